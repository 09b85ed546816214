import pytest

import naming


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "abcdefgh"])
@pytest.mark.parametrize("prefix", ["ml", "mlops", "abcdefgh"])
def test_every_name_keeps_azures_rules_for_any_valid_prefix_and_stack(prefix, stack):
    suffix = naming.stable_suffix("3f1c0b8e-1111-2222-3333-444455556666", stack, prefix)
    names = naming.names(prefix, stack, suffix)
    checked = {
        "resource_group": names.resource_group,
        "storage_account": names.storage_account,
        "key_vault": names.key_vault,
        "container_registry": names.container_registry,
        "log_analytics": names.log_analytics,
        "workspace": names.workspace,
        "identity": names.ci_identity("preview"),
    }
    for kind, name in checked.items():
        assert naming.violations(kind, name) is None


def test_global_names_are_stable_and_differ_between_subscriptions():
    first = naming.stable_suffix("sub-a", "prod", "mlops")
    assert first == naming.stable_suffix("SUB-A", "prod", "mlops")
    assert len(first) == 6 and first.isalnum() and first.islower()
    assert first != naming.stable_suffix("sub-b", "prod", "mlops")
    assert first != naming.stable_suffix("sub-a", "dev", "mlops")


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("storage_account", "st-mlops-prod"),  # hyphen
        ("storage_account", "stmlopsproduction1234567"[:24] + "x"),  # 25 characters
        ("key_vault", "kv--mlops"),
        ("key_vault", "1kvmlops"),
        ("container_registry", "cr-mlops"),
        ("compute", "a-cluster-name-too-long"),
    ],
)
def test_names_breaking_azures_rules_are_caught(kind, name):
    assert "breaks Azure's rule" in naming.violations(kind, name)
