// Added to Pulumi's fork of the Terraform plugin SDK (package helper/schema) at build time, through
// `go build -overlay` (scripts/pulumi-toolchain). kreuzwerker's provider needs terraform-plugin-go
// v0.31, whose ProviderServer interface gained GenerateResourceConfig after the fork that the
// served bridge pins was cut; without it the fork does not compile against v0.31.

package schema

import (
	"context"

	"github.com/hashicorp/terraform-plugin-go/tfprotov5"
)

// GenerateResourceConfig serves `terraform plan -generate-config-out`, which Pulumi never asks for.
func (s *GRPCProviderServer) GenerateResourceConfig(
	_ context.Context, _ *tfprotov5.GenerateResourceConfigRequest,
) (*tfprotov5.GenerateResourceConfigResponse, error) {
	return &tfprotov5.GenerateResourceConfigResponse{
		Diagnostics: []*tfprotov5.Diagnostic{{
			Severity: tfprotov5.DiagnosticSeverityError,
			Summary:  "generating resource configuration is not supported by this build",
		}},
	}, nil
}
