"""sptrain.torch.Batches: PyTorch tensors from sptrain's generator (skipped where torch is absent)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import sptrain  # noqa: E402
import sptrain.torch as st  # noqa: E402

from conftest import SPEC_TEXT as SPEC  # noqa: E402

B = 16


def expected(k, label="step_state"):
    """Batch k from sptrain.simulate: the features and the labels of trajectories k*B .. k*B+B-1."""
    s = sptrain.simulate(SPEC, B, seed=3, first_index=k * B, features=True)
    return s


def test_batch_k_is_trajectories_k_times_batch_on():
    data = st.Batches(SPEC, batch=B, seed=3, device="cpu")
    (b, t, c), (_, steps, outs) = data.shapes()
    assert (b, t, c, steps, outs) == (B, 49, 2, 49, 2)
    for k in [0, 3]:
        x, y = data.batch_at(k)
        assert isinstance(x, torch.Tensor) and x.dtype == torch.float32 and x.shape == (B, 49, 2)
        s = expected(k)
        assert x.numpy().tobytes() == s["features"].tobytes()
        # step_state targets: one-hot rows whose class is the simulated state of each step
        assert y.shape == (B, 49, 2)
        assert torch.all(y.sum(-1) == 1)
        assert np.array_equal(y.argmax(-1).numpy(), s["step_state"].astype(np.int64))


def test_regression_label_is_the_sigma():
    x, y = st.Batches(SPEC, batch=B, seed=3, device="cpu", label="n_switches").batch_at(1)
    assert y.shape == (B, 1, 1)
    assert np.array_equal(y[:, 0, 0].numpy(), expected(1)["n_switches"].astype(np.float32))


def test_workers_split_the_batches_without_repeats():
    steps = 6
    want = {k: expected(k)["features"].tobytes() for k in range(steps)}
    loader = torch.utils.data.DataLoader(st.Batches(SPEC, batch=B, seed=3, device="cpu", steps=steps),
                                         batch_size=None, num_workers=2)
    seen = []
    for x, _ in loader:
        ks = [k for k, v in want.items() if v == x.numpy().tobytes()]
        assert len(ks) == 1  # every yielded batch is one of the stream's batches
        seen.append(ks[0])
    assert sorted(seen) == list(range(steps))  # each exactly once: disjoint and complete


def test_ranks_take_interleaved_batches():
    got = [list(st.Batches(SPEC, batch=B, seed=3, device="cpu", steps=7, rank=r, world_size=3).indices())
           for r in range(3)]
    assert got == [[0, 3, 6], [1, 4], [2, 5]]
    x, _ = next(iter(st.Batches(SPEC, batch=B, seed=3, device="cpu", steps=7, rank=2, world_size=3)))
    assert x.numpy().tobytes() == expected(2)["features"].tobytes()
    assert len(st.Batches(SPEC, batch=B, seed=3, device="cpu", steps=7, rank=1, world_size=3)) == 2


def test_the_tensor_keeps_its_batch_alive():
    data = st.Batches(SPEC, batch=B, seed=3, device="cpu")
    x, _ = data.batch_at(2)
    del data  # the stream goes; the tensor still owns the library's buffer
    import gc
    gc.collect()
    assert x.numpy().tobytes() == expected(2)["features"].tobytes()


def test_bad_arguments_raise_with_the_libraries_message():
    with pytest.raises(ValueError, match="batch: 0 is not in 1.."):
        st.Batches(SPEC, batch=0, device="cpu")
    with pytest.raises(ValueError, match="'bogus' is not a label"):
        st.Batches(SPEC, batch=4, device="cpu", label="bogus")
    with pytest.raises(ValueError, match="rank 3 of world_size 2"):
        st.Batches(SPEC, batch=4, device="cpu", rank=3, world_size=2)
    with pytest.raises(TypeError, match="batch: expected an integer"):
        st.Batches(SPEC, batch=4.5, device="cpu")
    with pytest.raises(ValueError, match="classification label needs >= 2 states"):
        st.Batches("length = 20\n[states]\nD = [1.0]\n", batch=4, device="cpu", label="has_switch")
    with pytest.raises(ValueError, match="step: -1 is outside the stream"):
        st.Batches(SPEC, batch=4, device="cpu").batch_at(-1)
    if not sptrain.built_with_cuda():
        with pytest.raises(ValueError, match="cuda"):
            st.Batches(SPEC, batch=4, device="cuda")


@pytest.mark.skipif(not (torch.cuda.is_available() and sptrain.built_with_cuda()), reason="needs a CUDA device")
def test_cuda_batches_equal_the_host_batches():
    xg, yg = st.Batches(SPEC, batch=B, seed=3, device="cuda").batch_at(1)
    assert xg.is_cuda and yg.is_cuda
    xc, yc = st.Batches(SPEC, batch=B, seed=3, device="cpu").batch_at(1)
    # the device simulator agrees with the host's to float rounding (tests/test_parity_gpu.cpp); a
    # state label can differ only where a switch falls within rounding of a frame boundary
    assert torch.allclose(xg.cpu(), xc, rtol=1e-4, atol=1e-4)
    assert (yg.cpu().argmax(-1) == yc.argmax(-1)).float().mean() > 0.99


def test_simulate_dlpack_goes_into_torch_without_a_copy():
    d = sptrain.simulate(SPEC, B, seed=3, device="cpu", arrays="dlpack")
    x = torch.from_dlpack(d["positions"])
    assert x.data_ptr() == sptrain._core._last_buffers()["positions"]
    assert x.numpy().tobytes() == sptrain.simulate(SPEC, B, seed=3, device="cpu")["positions"].tobytes()


@pytest.mark.skipif(not (torch.cuda.is_available() and sptrain.built_with_cuda()), reason="needs a CUDA device")
def test_simulate_dlpack_on_the_gpu_stays_in_device_memory():
    d = sptrain.simulate(SPEC, B, seed=3, device="cuda", arrays="dlpack")
    x = torch.from_dlpack(d["features"])
    assert x.is_cuda and x.data_ptr() == sptrain._core._last_buffers()["features"]
    host = sptrain.simulate(SPEC, B, seed=3, device="cuda")  # the same GPU batch, copied to the host
    assert np.array_equal(x.cpu().numpy(), host["features"])
    assert np.array_equal(torch.from_dlpack(d["step_state"]).cpu().numpy(), host["step_state"])
