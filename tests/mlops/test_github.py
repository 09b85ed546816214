from mlops import github


def test_outputs_and_summary_are_appended_only_inside_a_workflow_step(tmp_path):
    outputs, summary = tmp_path / "output", tmp_path / "summary.md"
    environ = {github.OUTPUT: str(outputs), github.SUMMARY: str(summary)}

    github.set_outputs({"verdict": "promote", "gate_report": "a\nb", "deployment": ""}, environ)
    github.set_outputs({"model_version": 3}, environ)
    github.add_summary("## Gate\n", environ)
    github.set_outputs({"verdict": "reject"}, {})  # outside a workflow: nowhere

    assert outputs.read_text() == "verdict=promote\ngate_report=a\ndeployment=\nmodel_version=3\n"
    assert summary.read_text() == "## Gate\n\n"
