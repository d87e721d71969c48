"""The placement ring benchmark, run small."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from objectd.bench_ring import (
    ADDED_NODE,
    BENCH_NODES,
    NodeLoad,
    RingBenchResult,
    format_ring_bench,
    fragments_moved,
    main,
    node_loads,
    pick_cost,
    run_ring_bench,
    stripe_ids,
)
from placement.ring import Ring, RingNode


def ticking_clock(step: float = 0.5) -> Callable[[], float]:
    """A fake clock that advances ``step`` seconds per reading."""
    counter = itertools.count()
    return lambda: next(counter) * step


def test_small_run_has_the_right_shape() -> None:
    result = run_ring_bench(stripes=1500, timed=100, clock=ticking_clock())
    assert isinstance(result, RingBenchResult)
    assert (result.stripes, result.k, result.m) == (1500, 4, 2)
    assert [load.node_id for load in result.loads] == [n.node_id for n in BENCH_NODES]
    assert len({load.site for load in result.loads}) == 3
    assert sum(load.share for load in result.loads) == pytest.approx(6.0)
    assert sum(load.load for load in result.loads) == pytest.approx(6.0)
    assert result.added_node == ADDED_NODE
    assert 0 < result.added_share < 1
    assert result.moved >= result.added_share * 0.5
    # Each timed round reads the fake clock twice, half a second apart.
    assert result.pick_microseconds == pytest.approx(0.5 / 100 * 1e6)


def test_deviation_and_ratio_are_computed_from_the_figures() -> None:
    loads = (
        NodeLoad("x", "s", 1.0, share=0.5, load=0.52),
        NodeLoad("y", "s", 1.0, share=0.25, load=0.24),
        NodeLoad("z", "t", 2.0, share=1.0, load=1.0),
    )
    result = RingBenchResult(
        stripes=10,
        k=1,
        m=1,
        loads=loads,
        added_node=RingNode("w"),
        added_share=0.2,
        moved=0.23,
        pick_microseconds=7.0,
    )
    assert [load.deviation for load in loads] == pytest.approx([0.04, -0.04, 0.0])
    assert result.max_deviation == pytest.approx(0.04)
    assert result.movement_ratio == pytest.approx(1.15)
    assert not result.within_limits  # 1.15 > 1.1
    report = format_ring_bench(result)
    assert "max deviation from weighted share: 4.00%" in report
    assert "1.150x the minimum" in report and "OUTSIDE LIMITS" in report


def test_loads_of_a_ring_that_must_use_every_node() -> None:
    ring = Ring(RingNode(n) for n in "abc")
    loads = node_loads(ring, stripe_ids(50), k=2, m=1)
    assert [(load.node_id, load.share, load.load, load.deviation) for load in loads] == [
        ("a", 1.0, 1.0, 0.0),
        ("b", 1.0, 1.0, 0.0),
        ("c", 1.0, 1.0, 0.0),
    ]


def test_movement_counts_fragments_on_new_nodes() -> None:
    ids = stripe_ids(100)
    same = Ring(RingNode(n) for n in "abcd")
    assert fragments_moved(same, Ring(RingNode(n) for n in "dcba"), ids, k=2, m=1) == 0.0
    # With three nodes and three fragments, swapping one node moves exactly one.
    assert fragments_moved(Ring(RingNode(n) for n in "abc"), Ring(RingNode(n) for n in "abd"), ids, k=2, m=1) == 1.0


def test_pick_cost_keeps_the_best_round() -> None:
    readings = iter([0.0, 0.004, 1.0, 1.002, 2.0, 2.003])
    ring = Ring(RingNode(n) for n in "abcdef")
    assert pick_cost(ring, stripe_ids(100), 4, 2, rounds=3, clock=lambda: next(readings)) == pytest.approx(20.0)


def test_report_and_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["--stripes", "600"])
    out = capsys.readouterr().out
    assert out.startswith("placement ring: 600 stripes of 4+2 on 12 nodes in 3 sites")
    assert "adding b5 (site-b, weight 1.5)" in out and "one pick:" in out
    assert status == (0 if out.rstrip().endswith("within limits") else 1)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        run_ring_bench(stripes=0)
