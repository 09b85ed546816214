import pytest
import yaml

import config
from config import ConfigError, parse
from offline import stack_values
from tests.infra.conftest import INFRA, STACKS


def test_every_key_is_documented_in_pulumi_yaml_with_a_default():
    declared = yaml.safe_load((INFRA / "Pulumi.yaml").read_text())["config"]
    assert set(declared) == set(config.KEYS)
    for key, spec in declared.items():
        assert spec.get("description"), key
        assert "default" in spec, key
        assert spec["type"] in ("string", "integer", "boolean", "array"), key


@pytest.mark.parametrize("stack", STACKS)
def test_the_committed_stacks_only_set_declared_keys(stack):
    values = yaml.safe_load((INFRA / f"Pulumi.{stack}.yaml").read_text())["config"]
    for key in values:
        namespace, _, name = key.partition(":")
        assert namespace == config.PROJECT and name in config.KEYS, key


def values(**changes):
    return {**stack_values("prod"), **config.raw_from_yaml(changes)}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"namePrefix": "My_Prefix"}, "mlops-infra:namePrefix: 'My_Prefix' is not valid"),
        ({"cpuMaxNodes": "many"}, "mlops-infra:cpuMaxNodes: 'many' is not an integer"),
        ({"cpuMaxNodes": 0}, "mlops-infra:cpuMaxNodes: 0 is out of range"),
        ({"keyVaultRetentionDays": 3}, "mlops-infra:keyVaultRetentionDays: 3 is out of range"),
        ({"publicWorkspace": "yes"}, "mlops-infra:publicWorkspace: 'yes' is not a boolean"),
        ({"platformStack": "shared"}, "mlops-infra:platformStack: 'shared' is not valid"),
        ({"cpuVmSize": "big"}, "mlops-infra:cpuVmSize: 'big' is not valid"),
        ({"tags": ["team"]}, "mlops-infra:tags: 'team' is not a tag: expected name=value"),
    ],
)
def test_a_bad_value_is_refused_naming_the_key(change, message):
    with pytest.raises(ConfigError, match=message) as raised:
        parse(values(**change), "prod")
    assert "pulumi config set" in str(raised.value)


def test_a_missing_value_says_it_has_no_default():
    raw = values()
    del raw["location"]
    with pytest.raises(ConfigError, match="mlops-infra:location: is not set"):
        parse(raw, "prod")


def test_a_stack_name_that_cannot_be_part_of_global_names_is_refused():
    with pytest.raises(ConfigError, match="stack name 'Production'"):
        parse(values(), "Production")


def test_gpu_cluster_only_when_a_vm_size_is_set():
    assert parse(values(), "prod").gpu is None
    gpu = parse(values(gpuVmSize="Standard_NC4as_T4_v3", gpuMaxNodes=2), "prod").gpu
    assert (gpu.name, gpu.vm_size, gpu.max_nodes) == ("gpu-cluster", "Standard_NC4as_T4_v3", 2)


def test_load_reads_the_values_pulumi_hands_the_program():
    import pulumi

    raw = values(namePrefix="acme", cpuMaxNodes=3)
    pulumi.runtime.set_all_config({f"{config.PROJECT}:{k}": v for k, v in raw.items()})
    loaded = config.load("prod")
    assert loaded == parse(raw, "prod")
    assert (loaded.name_prefix, loaded.cpu.max_nodes) == ("acme", 3)
