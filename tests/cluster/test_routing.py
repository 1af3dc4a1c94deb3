"""The routing rule on its own: warm workers first, weighed by what their results cost; a short wait for a busy
worker that holds the prompt's models; otherwise the idle worker that holds the least."""
from __future__ import annotations

from cluster.routing import WorkerView, choose_worker, next_in_turn

CHECKPOINT, TEXT, LATENT = "ckpt-a", "text-a", "latent"
PROMPT = {CHECKPOINT: True, TEXT: False, LATENT: False}  # result key -> whether its node loads a model


def test_a_prompt_goes_to_the_idle_worker_that_holds_its_models():
    workers = [WorkerView("w1", True, {"ckpt-b": 9.0}), WorkerView("w2", True, {CHECKPOINT: 4.0, TEXT: 0.5}),
               WorkerView("w3", True)]
    assert choose_worker(PROMPT, workers, waited_s=0.0, wait_s=2.0) == "w2"


def test_affinity_is_weighed_by_cost_not_by_how_many_results_match():
    cheap_many = WorkerView("w1", True, {TEXT: 0.2, LATENT: 0.1})
    costly_one = WorkerView("w2", True, {CHECKPOINT: 5.0})
    assert choose_worker(PROMPT, [cheap_many, costly_one], waited_s=0.0, wait_s=2.0) == "w2"


def test_a_cold_prompt_goes_to_the_idle_worker_that_holds_the_least():
    workers = [WorkerView("w1", True, {"ckpt-b": 9.0}), WorkerView("w2", True, {"ckpt-c": 1.0}),
               WorkerView("w3", False)]
    assert choose_worker(PROMPT, workers, waited_s=0.0, wait_s=2.0) == "w2"


def test_a_prompt_waits_for_its_busy_warm_worker_within_the_window_then_goes_cold():
    workers = [WorkerView("w1", False, {CHECKPOINT: 30.0}), WorkerView("w2", True)]
    assert choose_worker(PROMPT, workers, waited_s=0.0, wait_s=2.0) is None
    assert choose_worker(PROMPT, workers, waited_s=1.9, wait_s=2.0) is None
    assert choose_worker(PROMPT, workers, waited_s=2.0, wait_s=2.0) == "w2"


def test_a_prompt_waits_only_for_its_models_not_for_cheap_results_a_busy_worker_holds():
    workers = [WorkerView("w1", False, {LATENT: 0.01, TEXT: 3.0}), WorkerView("w2", True)]
    assert choose_worker(PROMPT, workers, waited_s=0.0, wait_s=60.0) == "w2"


def test_a_partly_warm_idle_worker_is_taken_after_the_window_before_a_cold_one():
    workers = [WorkerView("w1", False, {CHECKPOINT: 30.0, TEXT: 1.0}), WorkerView("w2", True, {TEXT: 1.0}),
               WorkerView("w3", True)]
    assert choose_worker(PROMPT, workers, waited_s=0.5, wait_s=2.0) is None
    assert choose_worker(PROMPT, workers, waited_s=2.5, wait_s=2.0) == "w2"


def test_nothing_is_chosen_while_every_worker_is_busy():
    workers = [WorkerView("w1", False, {CHECKPOINT: 3.0}), WorkerView("w2", False)]
    assert choose_worker(PROMPT, workers, waited_s=100.0, wait_s=2.0) is None
    assert choose_worker(PROMPT, [], waited_s=0.0, wait_s=2.0) is None


def test_an_idle_worker_that_holds_the_models_goes_at_once_though_a_busy_one_holds_more():
    workers = [WorkerView("w1", False, {CHECKPOINT: 5.0, TEXT: 9.0}), WorkerView("w2", True, {CHECKPOINT: 5.0})]
    assert choose_worker(PROMPT, workers, waited_s=0.0, wait_s=2.0) == "w2"


def test_round_robin_takes_the_next_idle_worker_in_turn_whatever_the_caches_hold():
    workers = [WorkerView("w1", True, {CHECKPOINT: 9.0}), WorkerView("w2", False), WorkerView("w3", True)]
    assert next_in_turn(workers, None) == "w1"
    assert next_in_turn(workers, "w1") == "w3"
    assert next_in_turn(workers, "w3") == "w1"
    assert next_in_turn([WorkerView("w1", False)], "w1") is None
