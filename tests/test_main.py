import subprocess
import sys

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
