// Exposes kreuzwerker's SDKv2 provider, which lives in an internal package: a package may import it
// only from under the module's own path, so this one is named there (as pulumi-docker's shim is).
module github.com/terraform-providers/terraform-provider-docker/shim

go 1.26.6
