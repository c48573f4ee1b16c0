// Package shim hands kreuzwerker's Terraform docker provider (SDKv2 part) to the Pulumi bridge.
package shim

import (
	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"

	"github.com/terraform-providers/terraform-provider-docker/internal/provider"
)

// NewProvider is kreuzwerker's SDKv2 provider, reporting the given version.
func NewProvider(version string) *schema.Provider {
	return provider.New(version)()
}
