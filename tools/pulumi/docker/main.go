// Command pulumi-resource-docker is the docker resource provider that the pulumi-docker Python SDK
// talks to, bridged here from kreuzwerker's Terraform docker provider.
//
// pulumi-docker's own provider module is not served by the Go module proxy here; the bridge, Pulumi's
// fork of the Terraform plugin SDK and kreuzwerker's provider are. This is the part of that provider
// the appliance uses (containers, networks, volumes, images), under the SDK's resource tokens and
// property names.
package main

import (
	"unicode"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/terraform-providers/terraform-provider-docker/shim"
)

// version is the pulumi-docker SDK version this provider stands in for (set at link time).
var version = "0.0.0-dev"

// resources maps kreuzwerker's resources to the SDK's type names (docker:index/<name>:<Name>).
var resources = map[string]string{
	"docker_container": "Container",
	"docker_image":     "RemoteImage",
	"docker_network":   "Network",
	"docker_volume":    "Volume",
	"docker_tag":       "Tag",
}

func token(name string) tokens.Type {
	module := string(unicode.ToLower(rune(name[0]))) + name[1:]
	return tokens.Type("docker:index/" + module + ":" + name)
}

func providerInfo() tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:       shimv2.NewProvider(shim.NewProvider(version)),
		Name:    "docker",
		Version: version,
		Config: map[string]*tfbridge.SchemaInfo{
			"host": {Default: &tfbridge.DefaultInfo{
				Value: "unix:///var/run/docker.sock", EnvVars: []string{"DOCKER_HOST"},
			}},
			"registry_auth": {Name: "registryAuth", MaxItemsOne: tfbridge.False()}, // the SDK's name: not plural
		},
		Resources: map[string]*tfbridge.ResourceInfo{},
	}
	for tf, name := range resources {
		info.Resources[tf] = &tfbridge.ResourceInfo{Tok: token(name)}
	}
	container := info.Resources["docker_container"]
	// Container names are fixed: the old one must go before its replacement can take the name.
	container.DeleteBeforeReplace = true
	container.Fields = map[string]*tfbridge.SchemaInfo{
		"command":           {Name: "command"}, // one command, not a list of commands
		"networks_advanced": {Name: "networksAdvanced"},
	}
	info.Resources["docker_image"].Fields = map[string]*tfbridge.SchemaInfo{"name": {Name: "name"}}
	info.SetAutonaming(255, "-")
	return info
}

func main() {
	tfbridge.Main("docker", version, providerInfo(), nil)
}
