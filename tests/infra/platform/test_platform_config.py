import json
import re

import pytest
import yaml

import platform_config
from config_reader import ConfigError, raw_from_yaml
from offline import PLATFORM, stack_values
from policy.rules import CONFIG_FILE, committed_config


def values(**changes):
    return {**stack_values("shared", folder=PLATFORM), **raw_from_yaml(changes)}


def policy_config(tmp_path, repository) -> str:
    """A copy of the committed pack config naming ``repository``; its path."""
    config = committed_config()
    config["github-oidc-per-environment"]["githubRepository"] = repository
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return str(path)


def test_every_key_is_documented_in_pulumi_yaml_with_a_default():
    declared = yaml.safe_load((PLATFORM / "Pulumi.yaml").read_text())["config"]
    assert set(declared) == set(platform_config.KEYS)
    for key, spec in declared.items():
        assert spec.get("description") and "default" in spec, key


def test_the_repository_comes_from_the_policy_packs_config_and_nowhere_else(tmp_path):
    declared = yaml.safe_load((PLATFORM / "Pulumi.yaml").read_text())["config"]
    assert "githubRepository" not in declared
    committed = platform_config.parse(values())
    assert committed.policy_config == CONFIG_FILE
    assert (
        committed.github_repository
        == (committed_config()["github-oidc-per-environment"]["githubRepository"])
    )
    other = platform_config.parse(values(policyConfig=policy_config(tmp_path, "acme/credit-ml")))
    assert other.github_repository == "acme/credit-ml"


@pytest.mark.parametrize(
    ("repository", "message"),
    [
        ("just-a-name", "config.json: github-oidc-per-environment.githubRepository is "
         "'just-a-name': set it to the repository (OWNER/NAME)"),
        (None, "github-oidc-per-environment.githubRepository is None"),
    ],
)  # fmt: skip
def test_a_pack_config_without_a_repository_is_refused_naming_the_file_and_key(
    tmp_path, repository, message
):
    with pytest.raises(ConfigError, match=re.escape(message)):
        platform_config.parse(values(policyConfig=policy_config(tmp_path, repository)))


def test_a_missing_pack_config_is_refused_naming_the_key():
    with pytest.raises(ConfigError, match="mlops-platform:policyConfig: infra/platform/none.json"):
        platform_config.parse(values(policyConfig="none.json"))


def test_github_environments_default_per_environment_and_job_and_can_be_listed(tmp_path):
    parsed = platform_config.parse(values(policyConfig=policy_config(tmp_path, "acme/credit-ml")))
    assert parsed.github_environments["staging", "infra"] == ("staging-infra",)
    assert parsed.federated_subjects("prod", "ml") == ["repo:acme/credit-ml:environment:prod"]
    chosen = platform_config.parse(
        values(githubEnvironments=["prod/ml=prod", "prod/ml=prod-retrain"])
    )
    assert chosen.github_environments["prod", "ml"] == ("prod", "prod-retrain")
    assert chosen.github_environments["prod", "preview"] == ("prod-preview",)


def test_registry_regions_default_to_the_location():
    assert platform_config.parse(values(location="eastus2")).registry_regions == ("eastus2",)
    both = platform_config.parse(values(registryRegions=["westeurope", "eastus2"]))
    assert both.registry_regions == ("westeurope", "eastus2")


def test_the_first_environment_writes_to_the_registry_unless_configured():
    assert platform_config.parse(values()).registry_writers == ("dev",)
    both = platform_config.parse(values(registryWriters=["dev", "staging"]))
    assert both.registry_writers == ("dev", "staging")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"environments": []}, "mlops-platform:environments: is empty"),
        ({"environments": ["Prod"]}, "'Prod' is not an environment stack's name"),
        ({"environments": ["dev", "dev"]}, "lists an environment twice"),
        ({"githubEnvironments": ["qa/ml=qa"]}, "mlops-platform:githubEnvironments: 'qa/ml'"),
        ({"githubEnvironments": ["dev/deploy=dev"]}, "'dev/deploy': expected ENVIRONMENT/JOB"),
        ({"githubEnvironments": ["dev/ml=a", "dev/ml=a"]}, "lists 'a' twice for dev/ml"),
        (
            {"githubEnvironments": [f"dev/ml=e{i}" for i in range(21)]},
            "at most 20 credentials",
        ),
        (
            {"dataScientistsGroupObjectIds": ["dev=data-scientists"]},
            "mlops-platform:dataScientistsGroupObjectIds: 'data-scientists' is not an object id",
        ),
        ({"stateStorageAccount": ""}, "mlops-platform:stateStorageAccount: '' is not valid"),
        ({"registryRegions": ["West Europe"]}, "'West Europe' is not an Azure region"),
        (
            {"registryWriters": ["qa"]},
            "mlops-platform:registryWriters: 'qa' is not one of environments",
        ),
    ],
)
def test_a_bad_value_is_refused_naming_the_key(change, message):
    with pytest.raises(ConfigError, match=message) as raised:
        platform_config.parse(values(**change))
    assert "infra/platform/Pulumi.<stack>.yaml" in str(raised.value)
