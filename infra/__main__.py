"""`pulumi up` runs this (Pulumi.yaml: main: infra/): the appliance, configured by the stack."""

import sys
from pathlib import Path

import pulumi

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root: `import infra`

from infra.appliance import Appliance
from infra.settings import Settings

appliance = Appliance("rcoder", Settings.from_config())
for key, value in appliance.outputs.items():
    pulumi.export(key, value)
