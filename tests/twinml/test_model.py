"""The activation emulator: shapes, isolated nodes, encode-once reuse."""

import torch

from twinml.models.activation_gnn import ActivationGNN


def _graph():
    torch.manual_seed(0)
    x = torch.randn(4, 5)
    # node 3 is isolated: no edge touches it
    edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    edge_attr = torch.randn(4, 3)
    return x, edge_index, edge_attr


def test_output_shape_and_finite_with_an_isolated_node():
    x, ei, ea = _graph()
    model = ActivationGNN(node_dim=5, edge_dim=3, query_dim=5, width=8, n_layers=2)
    q = torch.rand(3, 4, 5)
    out = model(x, ei, ea, torch.tensor([0, 2, 3]), q)
    assert out.shape == (3, 4)
    assert torch.isfinite(out).all()


def test_encoding_is_reused_across_queries():
    x, ei, ea = _graph()
    model = ActivationGNN(node_dim=5, edge_dim=3, query_dim=5, width=8, n_layers=2)
    q = torch.rand(2, 4, 5)
    lead = torch.tensor([1, 2])
    h = model.encode(x, ei, ea)
    # decoding each query alone equals decoding the batch
    batch = model.decode(h, lead, q)
    single = torch.cat(
        [model.decode(h, lead[i : i + 1], q[i : i + 1]) for i in range(2)]
    )
    torch.testing.assert_close(batch, single)
    torch.testing.assert_close(batch, model(x, ei, ea, lead, q))


def test_zero_correction_returns_the_scaled_graph_time():
    x, ei, ea = _graph()
    model = ActivationGNN(5, 3, 5, width=8, n_layers=1, k_init=0.9)
    torch.nn.init.zeros_(model.decoder[-1].weight)
    torch.nn.init.zeros_(model.decoder[-1].bias)
    q = torch.rand(1, 4, 5)
    out = model(x, ei, ea, torch.tensor([0]), q)
    torch.testing.assert_close(out, 100.0 * 0.9 * q[..., 2])
