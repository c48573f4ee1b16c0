"""The files server of a files container (`rcoder-runner --files`): a workspace root's files listed,
read, written, deleted and archived over HTTP, every path resolved beneath the root."""
