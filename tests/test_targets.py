"""`train --targets votes`: FERPlus's vote distributions as soft targets (validation stays on majority labels)."""
import json

import numpy as np
import pytest

from lanmsff_edge.data.testing import write_ferplus


@pytest.fixture
def ferplus_votes(tmp_path, monkeypatch):
    """A small FERPlus folder whose images have split votes (majority and distribution differ)."""
    monkeypatch.setenv("LANMSFF_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)

    def rows(count, start):
        out = []
        for i in range(count):
            votes = [0] * 10
            top, second = rng.choice(8, 2, replace=False)
            votes[top], votes[second] = 6, 4
            out.append((f"fer{start + i:07d}.png", votes))
        return out

    write_ferplus(tmp_path / "ferplus", {"train": rows(48, 0), "val": rows(16, 100)})
    return tmp_path / "ferplus"


def test_the_training_pipeline_feeds_the_vote_distributions(ferplus_votes):
    from lanmsff_edge.data import load_dataset
    from lanmsff_edge.training.engine import training_data

    train = load_dataset("ferplus", ferplus_votes, "train")
    assert load_dataset("ferplus", ferplus_votes, "train").votes.tolist() == train.votes.tolist()  # cached too
    data, size = training_data(train, "none", 48, seed=0, soft_targets=True)
    _, targets = next(iter(data))
    targets = targets.numpy()
    assert size == 48 and targets.shape == (48, 8)
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, rtol=1e-6)
    assert sorted(map(tuple, targets.round(6))) == sorted(map(tuple, train.votes.round(6)))
    assert sorted(np.unique(targets.round(6))) == [0.0, 0.4, 0.6]
    _, one_hot = next(iter(training_data(train, "none", 48, seed=0)[0]))
    assert sorted(np.unique(one_hot.numpy())) == [0.0, 1.0]  # majority: today's one-hot targets


@pytest.mark.slow
def test_train_with_votes_records_its_targets_and_refuses_a_changed_resume(ferplus_votes, tmp_path, run_cli):
    out = tmp_path / "run"
    result = run_cli("train", "--dataset", "ferplus", "--data", ferplus_votes, "--targets", "votes", "--width", 0.25,
                     "--epochs", 1, "--batch-size", 16, "--augment", "none", "--out", out)
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["options"]["targets"] == "votes" and "vote distribution" in config["recipe"]["targets"]
    result = run_cli("train", "--out", out, "--resume", "--targets", "majority", "--epochs", 2)
    assert result.exit_code == 1 and "targets is 'majority' but the run was started with 'votes'" in result.output


def test_votes_need_ferplus_and_old_runs_resume_as_majority():
    from lanmsff_edge.errors import UserError
    from lanmsff_edge.training import config as cfg

    with pytest.raises(UserError, match="only FERPlus has them, not synthetic"):
        cfg.resolve({"dataset": "synthetic", "targets": "votes"})
    started_before_targets = {"options": {"dataset": "ferplus", "width": 1.0}}  # a config.json from before --targets
    assert cfg.resolve({"targets": "majority"}, started_before_targets)["targets"] == "majority"
    assert cfg.resolve({}, started_before_targets)["targets"] == "majority"
    with pytest.raises(UserError, match="targets is 'votes' but the run was started with 'majority'"):
        cfg.resolve({"targets": "votes"}, started_before_targets)
