// sseload follows one SSE stream of the RCoder gateway with many clients at once and reports, as JSON,
// what they received: events, heartbeats, the delay of every n-th event (its timestamp to its arrival,
// only for events emitted after the client joined, with when it was emitted), and errors. It is the load generator of
// bench/fanout.py: written in Go so that the clients cost little next to the gateway they measure.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"
)

type client struct {
	Events     int          `json:"events"`
	Heartbeats int          `json:"heartbeats"`
	Ended      bool         `json:"ended"`
	Error      string       `json:"error,omitempty"`
	JoinedMs   int64        `json:"joined_ms"` // unix time
	Delays     [][2]float64 `json:"delays"`    // [emitted (unix ms), delay (ms)]
}

var (
	terminal  = []byte(`"messageType":"sessionPromptEnd"`)
	timestamp = []byte(`"timestamp":"`)
)

// emitted is an event's timestamp, found without decoding its JSON: the clients must cost little CPU
// next to the gateway they measure (the gateway writes the timestamp last, as RFC 3339 in UTC).
func emitted(data []byte) (time.Time, bool) {
	at := bytes.LastIndex(data, timestamp)
	if at < 0 {
		return time.Time{}, false
	}
	value := data[at+len(timestamp):]
	end := bytes.IndexByte(value, '"')
	if end < 0 {
		return time.Time{}, false
	}
	when, err := time.Parse(time.RFC3339Nano, string(value[:end]))
	return when, err == nil
}

func follow(url, key string, sample int, deadline time.Time, c *client) {
	request, _ := http.NewRequest("GET", url, nil)
	request.Header.Set("x-api-key", key)
	httpClient := &http.Client{Timeout: time.Until(deadline)}
	response, err := httpClient.Do(request)
	if err != nil {
		c.Error = err.Error()
		return
	}
	defer response.Body.Close()
	if response.StatusCode != 200 {
		c.Error = response.Status
		return
	}
	joined := time.Now()
	c.JoinedMs = joined.UnixMilli()
	reader := bufio.NewReaderSize(response.Body, 1<<16)
	for {
		line, err := reader.ReadSlice('\n')
		if err != nil {
			return // the stream ended, or the deadline cut it (both expected)
		}
		switch {
		case bytes.HasPrefix(line, []byte(": keep-alive")):
			c.Heartbeats++
		case bytes.HasPrefix(line, []byte("data: ")):
			c.Events++
			arrived := time.Now()
			if c.Events%sample == 0 {
				if when, ok := emitted(line); ok && !when.Before(joined) {
					delay := float64(arrived.Sub(when).Microseconds()) / 1000
					c.Delays = append(c.Delays, [2]float64{float64(when.UnixMilli()), delay})
				}
			}
			if bytes.Contains(line, terminal) {
				c.Ended = true
				return
			}
		}
	}
}

func main() {
	url := flag.String("url", "", "the SSE stream (http://host:port/agent/progress/<session>)")
	key := flag.String("key", "", "the API key")
	clients := flag.Int("clients", 1000, "how many clients follow the stream")
	seconds := flag.Float64("seconds", 60, "how long at most")
	sample := flag.Int("sample", 1, "time every n-th event")
	flag.Parse()
	deadline := time.Now().Add(time.Duration(*seconds * float64(time.Second)))
	results := make([]client, *clients)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func(c *client) {
			defer wg.Done()
			follow(*url, *key, *sample, deadline, c)
		}(&results[i])
	}
	wg.Wait()
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
