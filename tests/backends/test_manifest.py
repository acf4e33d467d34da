"""``manifest.json`` on its own: what it says of each kernel is what the kernel is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import qlower

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "examples" / "mlp.onnx"


@pytest.fixture(scope="module", params=[{}, {"strategy": "amplitude-encoding"},
                                        {"method": "fable", "compose": True}],
                ids=["auto", "amplitude", "fable-composed"])
def written(request, tmp_path_factory):
    program = qlower.compile(MODEL, "qasm3", **request.param)
    out = tmp_path_factory.mktemp("m") / "build"
    program.write(out)
    return program, out, json.loads((out / "manifest.json").read_text())


def test_every_kernel_is_described_as_it_is(written):
    program, out, doc = written
    assert [k["name"] for k in doc["kernels"]] == [k.name for k in program.kernels]
    for entry, kc in zip(doc["kernels"], program.kernels):
        assert (out / entry["file"]).is_file()
        assert entry["qubits"] == len(kc.qubits)
        assert entry["parameters"]["names"] == [str(s) for s in kc.symbols]
        assert entry["parameters"]["value"] == kc.kernel.parameters
        assert entry["readout_value"] == kc.kernel.output
        assert entry["method"] == kc.method
        res = kc.resources().as_dict()
        assert {k: entry["resources"][k] for k in res} == res
        rule = entry["readout"]
        n = len(kc.qubits)
        if rule["rule"] == "amplitudes":
            qs = sorted(rule["output_qubits"] + rule["flag_qubits"])
            assert qs == list(range(n)) and rule["size"] == kc.size
            m = entry["measurement"]
            assert m["qubits"] == rule["output_qubits"] + rule["flag_qubits"]
            assert m["output_bits"] == list(range(len(rule["output_qubits"])))
        else:
            assert rule["rule"] == "hadamard-test" and 0 <= rule["measure_qubit"] < n


def test_the_manifest_records_every_lowering_option(written):
    program, _, doc = written
    assert set(doc["options"]) == {"strategy", "method", "overrides", "threshold", "signs", "carry",
                                   "layers", "min_fidelity",
                                   "epsilon", "score_range", "activation_bound", "calibration",
                                   "compose", "max_qubits", "max_depth", "target_error", "shots",
                                   "profile", "amplify", "success_bound", "amplify_error",
                                   "prep", "prep_layers"}
    assert doc["options"] == program.options


def test_a_budgeted_compile_records_its_choices(tmp_path):
    import onnx
    from util import mlp_model

    path = tmp_path / "mlp.onnx"
    onnx.save(mlp_model(), path)
    program = qlower.compile(path, "qasm3", max_qubits=4)
    program.write(tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [c["chosen"] for c in doc["choices"]] == ["amplitude-encoding", "amplitude-encoding"]
    assert doc["choices"][0]["candidates"][0]["violations"] == ["7 qubits > --max-qubits 4"]
    program.write(tmp_path / "again")
    assert (tmp_path / "again" / "manifest.json").read_bytes() == \
        (tmp_path / "out" / "manifest.json").read_bytes()


def test_writing_twice_gives_the_same_bytes(written, tmp_path):
    program, out, _ = written
    again = tmp_path / "again"
    program.write(again)
    for f in sorted(out.iterdir()):
        assert (again / f.name).read_bytes() == f.read_bytes(), f.name
