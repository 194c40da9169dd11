import subprocess
import sys

import pytest

from skrecover.__main__ import demo, main


def test_demo_prints_one_table(capsys):
    rows = demo(
        [
            "--n-samples",
            "3000",
            "--n-features",
            "6",
            "--n-hidden",
            "2",
            "--activation",
            "relu",
        ]
    )
    output = capsys.readouterr().out
    assert "recovery error" in output and "test R^2" in output
    names = [row[0] for row in rows]
    assert names == [
        "TensorInitGD",
        "MLPRegressor(2 units)",
        "MLPRegressor(100 units)",
        "Ridge",
    ]
    tensor_error = float(rows[0][1])
    assert tensor_error < 1e-6 and rows[0][2] > 0.999999
    assert rows[-1][1] == "n/a"


def test_unknown_command_prints_usage(capsys):
    assert main(["frobnicate"]) == 2
    assert "usage" in capsys.readouterr().err


def test_module_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "skrecover", "demo", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--activation" in result.stdout


FAKE_BENCHMARK = """
import argparse
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
parser.add_argument("--name")
args = parser.parse_args()
print("  size=small, ratio=12.5", flush=True)
results = Path(__file__).parent / "results"
results.mkdir(exist_ok=True)
table = "| size | ratio |\\n|---|---|\\n| small | 12.5 |\\n"
(results / f"{args.name}.md").write_text(table)
"""


def test_bench_runs_scripts_with_progress_and_prints_their_tables(tmp_path, capsys):
    (tmp_path / "bench_fake.py").write_text(FAKE_BENCHMARK)
    (tmp_path / "bench_broken.py").write_text("raise SystemExit(3)\n")
    assert main(["bench", "--dir", str(tmp_path), "--list"]) == 0
    assert capsys.readouterr().out.split() == ["broken", "fake"]
    assert main(["bench", "fake", "--dir", str(tmp_path)]) == 0
    output = capsys.readouterr().out
    assert "[1/1 fake" in output and "size=small, ratio=12.5" in output
    assert "| small | 12.5 |" in output and "1 of 1 benchmarks ran." in output
    assert (tmp_path / "results" / "fake_quick.md").exists()
    assert main(["bench", "--dir", str(tmp_path)]) == 1
    assert "failed: broken" in capsys.readouterr().out


def test_bench_rejects_unknown_names_and_missing_directories(tmp_path):
    with pytest.raises(SystemExit):
        main(["bench", "nothing", "--dir", str(tmp_path)])
    with pytest.raises(SystemExit):
        main(["bench", "--dir", str(tmp_path / "missing")])


def test_the_real_benchmarks_are_listed(capsys):
    main(["bench", "--list"])
    names = capsys.readouterr().out.split()
    assert {"tensor_init_gd", "convotron", "moment_recovery", "practical_size"} <= set(
        names
    )
