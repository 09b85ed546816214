"""The policy pack: every rule of rules.py, mandatory.

cd infra && pulumi preview --policy-pack policy --policy-pack-config policy/config.json
"""

import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

# The pack checks role ids against the program's own table (infra/roles.py),
# so the two cannot drift apart.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policy.pack import PACK_NAME, POLICIES

PolicyPack(name=PACK_NAME, enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
