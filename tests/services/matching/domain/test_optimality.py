"""Proofs of lexicographic optimality from node potentials, checked against brute force on small
networks: source -> left (1) -> right (1 per arc) -> sink (the right node's capacity)."""

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from ortools.graph.python import min_cost_flow

from services.matching.domain.optimality import optimal_face, residual_potentials


def network(n_left, n_right, pairs, capacity):
    """Arcs: source arcs, then the pair arcs in the given order, then the sink arcs."""
    sink = 1 + n_left + n_right
    tails = [0] * n_left + [1 + i for i, _ in pairs] + [1 + n_left + j for j in range(n_right)]
    heads = [1 + i for i in range(n_left)] + [1 + n_left + j for _, j in pairs] + [sink] * n_right
    caps = [1] * (n_left + len(pairs)) + list(capacity)
    return sink, np.array(tails), np.array(heads), np.array(caps, dtype=np.int64)


def flow_of(chosen, n_left, n_right, pairs):
    """The flow on every arc of `network` when the pair arcs `chosen` (indices) are used."""
    flow = np.zeros(n_left + len(pairs) + n_right, dtype=np.int64)
    for a in chosen:
        i, j = pairs[a]
        flow[i] += 1
        flow[n_left + a] = 1
        flow[n_left + len(pairs) + j] += 1
    return flow


def matchings(n_left, n_right, pairs, capacity):
    """Every set of pair arcs with each left node once at most and each right node within capacity."""
    for size in range(len(pairs) + 1):
        for chosen in itertools.combinations(range(len(pairs)), size):
            lefts = [pairs[a][0] for a in chosen]
            rights = [pairs[a][1] for a in chosen]
            if len(set(lefts)) == len(lefts) and all(rights.count(j) <= capacity[j] for j in set(rights)):
                yield chosen


def padded(values, n_left, n_right):
    return np.concatenate([np.zeros(n_left, np.int64), np.array(values, np.int64), np.zeros(n_right, np.int64)])


@st.composite
def instances(draw):
    n_left, n_right = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    all_pairs = [(i, j) for i in range(n_left) for j in range(n_right)]
    pairs = draw(st.lists(st.sampled_from(all_pairs), min_size=1, max_size=8, unique=True))
    capacity = draw(st.lists(st.integers(1, 2), min_size=n_right, max_size=n_right))
    n_levels = draw(st.integers(1, 3))
    levels = [draw(st.lists(st.integers(0, 3), min_size=len(pairs), max_size=len(pairs))) for _ in range(n_levels)]
    return n_left, n_right, pairs, capacity, levels


@settings(max_examples=150, deadline=None)
@given(instances())
def test_the_face_is_exactly_the_set_of_lexicographic_optima(instance):
    n_left, n_right, pairs, capacity, levels = instance
    sink, tails, heads, caps = network(n_left, n_right, pairs, capacity)
    size = max(len(c) for c in matchings(n_left, n_right, pairs, capacity))
    same_size = [c for c in matchings(n_left, n_right, pairs, capacity) if len(c) == size]
    totals = {c: tuple(sum(level[a] for a in c) for level in levels) for c in same_size}
    best = min(totals.values())
    costs = [padded(level, n_left, n_right) for level in levels]
    for chosen in same_size:
        flow = flow_of(chosen, n_left, n_right, pairs)
        face = optimal_face(sink + 1, tails, heads, caps, flow, costs)
        assert (face is not None) == (totals[chosen] == best)
        if face is None:
            continue
        # Every maximum matching that agrees with this one off the face is optimal, and only those.
        fixed = np.setdiff1d(np.arange(len(tails)), face)
        for other in same_size:
            agrees = np.array_equal(flow_of(other, n_left, n_right, pairs)[fixed], flow[fixed])
            assert agrees == (totals[other] == best)


def test_potentials_of_a_least_cost_flow_leave_no_residual_arc_negative():
    # Two left nodes, two right nodes of capacity 1; crossing costs 1, straight costs 5.
    pairs = [(0, 0), (0, 1), (1, 0), (1, 1)]
    cost = [5, 1, 1, 5]
    sink, tails, heads, caps = network(2, 2, pairs, [1, 1])
    solver = min_cost_flow.SimpleMinCostFlow()
    solver.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, padded(cost, 2, 2))
    solver.set_nodes_supplies(np.array([0, sink]), np.array([2, -2]))
    assert solver.solve() == solver.OPTIMAL
    flow = solver.flows(np.arange(len(tails)))
    p = residual_potentials(sink + 1, tails, heads, padded(cost, 2, 2), caps, flow)
    reduced = padded(cost, 2, 2) + p[tails] - p[heads]
    assert ((reduced >= 0) | (flow == caps)).all() and ((reduced <= 0) | (flow == 0)).all()
    # The straight assignment costs 10 against 2: its residual graph has a negative cycle.
    straight = flow_of([0, 3], 2, 2, pairs)
    assert residual_potentials(sink + 1, tails, heads, padded(cost, 2, 2), caps, straight) is None


def test_a_long_negative_cycle_is_found_without_running_all_rounds():
    # A ring of n left and n right nodes, each left i on right i (cost 1) or right i+1 (cost 0):
    # the flow on the dear arcs is one negative cycle through every node.
    n = 200
    pairs = [(i, i) for i in range(n)] + [(i, (i + 1) % n) for i in range(n)]
    cost = padded([1] * n + [0] * n, n, n)
    sink, tails, heads, caps = network(n, n, pairs, [1] * n)
    flow = flow_of(range(n), n, n, pairs)
    assert residual_potentials(sink + 1, tails, heads, cost, caps, flow, max_rounds=10**6) is None
    cheap = flow_of(range(n, 2 * n), n, n, pairs)
    assert residual_potentials(sink + 1, tails, heads, cost, caps, cheap) is not None
