"""The arena (evaluation.arena, cli.arena): rows, missing checkpoints, the trilemma's columns."""

import pytest

from diffusion_course import data
from diffusion_course.checkpoints import load_pretrained
from diffusion_course.cli import main as cli
from diffusion_course.evaluation.arena import ROSTER, SLOW, arena
from diffusion_course.evaluation.results import read_result

needs_mnist = pytest.mark.skipif(not data.available()["MNIST"], reason="needs MNIST on disk")


def test_the_roster_has_every_family_and_the_three_pixel_samplers():
    for dataset, rows in ROSTER.items():
        names = [r[0] for r in rows]
        assert {"pixel DDPM-1000", "pixel DDIM-50", "pixel DPM-Solver++-20"} <= set(names)
        assert {r[1] for r in rows} == {f"{dataset}-{k}" for k in ("ddpm", "ldm", "gan", "vae")}
    assert SLOW <= {r[0] for r in ROSTER["mnist"]}


def test_unknown_dataset_is_refused():
    with pytest.raises(ValueError, match="the arena knows"):
        arena("svhn", lambda name: None, n=10, n_slow=10)


@needs_mnist
def test_missing_checkpoints_are_listed_and_only_filters_rows():
    loaded = []

    def load(name):
        loaded.append(name)
        return load_pretrained(name) if name == "mnist-vae" else None

    rows, missing = arena("mnist", load, n=10, n_slow=10, only=["vae", "GAN"])
    assert [r["name"] for r in rows] == ["VAE (one decoder pass)"] and missing == ["mnist-gan"]
    assert sorted(loaded) == ["mnist-gan", "mnist-vae"]  # filtered rows are not even loaded
    r = rows[0]
    assert r["network_evaluations_per_image"] == 1 and r["n"] == 10 and r["ms_per_image"] > 0
    assert r["fid_over_floor"] == pytest.approx(r["mnist_classifier_fid"] / r["floor_fid"], abs=0.01)


@needs_mnist
def test_cli_writes_one_result_and_refuses_to_overwrite(tmp_path, capsys):
    argv = ["arena", "--dataset", "mnist", "--n", "10", "--only", "VAE", "--device", "cpu"]
    argv += ["--out", "ar", "--results-dir", str(tmp_path)]
    assert cli(argv) == 0
    res = read_result("ar", tmp_path)
    assert res["kind"] == "arena" and [r["checkpoint"] for r in res["rows"]] == ["mnist-vae"]
    assert cli(argv) == 2 and "exists" in capsys.readouterr().err
    assert cli(["arena", "--dataset", "mnist", "--n", "5", "--out", "x", "--results-dir", str(tmp_path)]) == 2


@needs_mnist
def test_replace_rows_measures_named_rows_again_and_keeps_the_rest(tmp_path, capsys):
    base = ["arena", "--dataset", "mnist", "--n", "10", "--device", "cpu"]
    base += ["--out", "ar", "--results-dir", str(tmp_path)]
    assert cli(base + ["--only", "VAE", "GAN"]) == 0
    first = read_result("ar", tmp_path)
    assert cli(base + ["--only", "VAE", "--replace-rows", "--seed", "1"]) == 0
    res = read_result("ar", tmp_path)
    assert [r["name"] for r in res["rows"]] == [r["name"] for r in first["rows"]]  # same rows, same order
    gan_old, gan = (next(r for r in x["rows"] if r["name"].startswith("GAN")) for x in (first, res))
    vae_old, vae = (next(r for r in x["rows"] if r["name"].startswith("VAE")) for x in (first, res))
    assert gan == gan_old and "remeasured" not in gan  # kept as it was
    assert "--seed 1" in vae["remeasured"]["command"] and vae["fid_over_floor"] != vae_old["fid_over_floor"]
    assert res["command"] == first["command"] and res["date"] == first["date"]  # the file's own provenance
    assert [u["rows"] for u in res["row_updates"]] == [["VAE (one decoder pass)"]]
    from diffusion_course.evaluation.report import headline

    line = headline(res)
    assert line.count("re-measured") == 1 and f"re-measured {vae['remeasured']['date'][:10]}" in line
    assert vae["remeasured"]["hardware"] == res["hardware"] and "not comparable" not in line  # same machine
    elsewhere = {**res, "hardware": {**res["hardware"], "processor": "another CPU"}}
    assert "on " + res["hardware"]["processor"] + ", its time not comparable" in headline(elsewhere)
    capsys.readouterr()
    assert cli(base + ["--replace-rows"]) == 2 and "needs --only" in capsys.readouterr().err
    assert cli(base[:4] + ["20"] + base[5:] + ["--only", "VAE", "--replace-rows"]) == 2
    assert "not an arena run with these settings" in capsys.readouterr().err
    assert cli(base[:-3] + ["other", "--results-dir", str(tmp_path), "--only", "VAE", "--replace-rows"]) == 2
    assert "no result" in capsys.readouterr().err
