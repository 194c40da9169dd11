import subprocess
import sys

import pytest

from skrecover.__main__ import demo, main

SMALL_DEMO = [
    "--n-samples",
    "3000",
    "--n-features",
    "6",
    "--n-hidden",
    "2",
    "--activation",
    "relu",
]


def test_demo_prints_one_table(capsys):
    rows = demo(SMALL_DEMO)
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


def test_demo_on_a_local_dask_cluster(capsys):
    pytest.importorskip("distributed")
    rows = demo([*SMALL_DEMO, "--dask"])
    assert "local dask cluster" in capsys.readouterr().out
    assert [row[0] for row in rows[:2]] == [
        "TensorInitGD",
        "TensorInitGD, dask (2 workers)",
    ]
    assert float(rows[0][1]) < 1e-6 and float(rows[1][1]) < 1e-6
    assert rows[1][2] == pytest.approx(rows[0][2], abs=1e-12)


def test_demo_shows_progress_and_the_librarys_warnings(capsys):
    """A sample too small for the tensor method: its warning reaches the user."""
    with pytest.warns(UserWarning):
        demo(["--n-samples", "40", "--n-features", "8", "--n-hidden", "8"])
    output = capsys.readouterr().out
    assert "[1/3] fitting TensorInitGD ..." in output
    assert "[3/3] Ridge:" in output


def test_unknown_command_prints_usage(capsys):
    assert main(["frobnicate"]) == 2
    error = capsys.readouterr().err
    assert "usage" in error and "invalid choice: 'frobnicate'" in error
    assert main([]) == 2
    assert "demo" in capsys.readouterr().err


def test_help_lists_the_subcommands_with_one_line_each():
    result = subprocess.run(
        [sys.executable, "-m", "skrecover", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "demo        recover a teacher network" in result.stdout
    assert "bench       run the benchmark scripts" in result.stdout


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--n-samples", "0"], "--n-samples: must be a positive integer, got 0"),
        (["--n-samples", "many"], "--n-samples: not a number: 'many'"),
        (["--noise", "-1"], "--noise: must be finite and >= 0, got -1"),
        (["--condition-number", "0.5"], "must be finite and >= 1"),
        (["--n-hidden", "20"], "--n-hidden 20 is larger than --n-features 10"),
    ],
)
def test_bad_demo_flags_get_one_line_errors(flags, message, capsys):
    with pytest.raises(SystemExit) as exit:
        demo(flags)
    assert exit.value.code == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert error.strip().splitlines()[-1].startswith("python -m skrecover demo: error")


def test_every_demo_flag_has_help_and_its_default(capsys):
    with pytest.raises(SystemExit):
        demo(["--help"])
    output = " ".join(capsys.readouterr().out.split())
    for flag, default in [
        ("--n-samples", "20000"),
        ("--n-features", "10"),
        ("--n-hidden", "5"),
        ("--activation", "squared_relu"),
        ("--hidden-biases", "0.0"),
        ("--noise", "0.0"),
        ("--condition-number", "2.0"),
        ("--random-state", "0"),
        ("--dask", "False"),
    ]:
        assert flag in output and f"(default: {default})" in output
    assert output.count("(default:") == 9


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
