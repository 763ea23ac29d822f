"""xnb._check, the one module of argument checks: each error has the right type and names the argument."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.exceptions import DataConversionWarning

from xnb import _check as C

# --------------------------------------------------------------------------- scalars


@pytest.mark.parametrize("value", [0, 7, np.int64(3), np.uint8(2)])
def test_is_int_accepts_python_and_numpy_integers(value):
    assert C.is_int(value)


@pytest.mark.parametrize("value", [True, np.bool_(False), 1.0, "1", None, torch.tensor(1)])
def test_is_int_refuses_bools_floats_and_others(value):
    assert not C.is_int(value)


def test_check_int():
    assert C.check_int(np.int32(5), "n", minimum=1) == 5 and type(C.check_int(np.int32(5), "n")) is int
    with pytest.raises(TypeError, match="n: expected an integer, got True"):
        C.check_int(True, "n")
    with pytest.raises(TypeError, match="k: expected an integer"):
        C.check_int(2.0, "k")
    with pytest.raises(ValueError, match="k: must be >= 1, got 0"):
        C.check_int(0, "k", minimum=1)
    with pytest.raises(ValueError, match="k: must be <= 3, got 4"):
        C.check_int(4, "k", maximum=3)


def test_check_float():
    assert C.check_float(np.float32(0.5), "a", 0, 1) == 0.5
    assert C.check_float(3, "a") == 3.0
    with pytest.raises(TypeError, match="a: expected a number"):
        C.check_float(False, "a")
    with pytest.raises(TypeError, match="a: expected a number"):
        C.check_float("1", "a")
    with pytest.raises(ValueError, match="a: must be finite"):
        C.check_float(float("nan"), "a")
    with pytest.raises(ValueError, match=r"a: must be in \(0, 1\], got 0"):
        C.check_float(0.0, "a", 0, 1, low_open=True)
    with pytest.raises(ValueError, match=r"a: must be in \[-inf, 2\), got 2"):
        C.check_float(2.0, "a", high=2, high_open=True)
    with pytest.raises(ValueError, match=r"mu: must be in \(0, inf\]"):
        C.check_positive(0, "mu")


def test_check_choice():
    assert C.check_choice("b", "mode", ("a", "b")) == "b"
    with pytest.raises(ValueError, match="mode: unknown value 'c'; allowed: 'a', 'b'"):
        C.check_choice("c", "mode", ("a", "b"))


def test_must_be_int_seed_choice():
    assert C.must_be_int("n", np.int64(4), 1) == 4
    with pytest.raises(TypeError, match="n must be an integer, got True"):
        C.must_be_int("n", True, 1)
    with pytest.raises(TypeError, match="size must be an integer"):
        C.must_be_int("size", 32.0, 8)
    with pytest.raises(ValueError, match=r"size must be >= 8 \(the digits are 8x8\), got 4"):
        C.must_be_int("size", 4, 8, " (the digits are 8x8)")
    assert C.must_be_seed(np.uint16(3)) == 3
    with pytest.raises(TypeError, match="seed must be an integer"):
        C.must_be_seed(np.bool_(True))
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got -1"):
        C.must_be_seed(-1)
    assert C.must_be_choice("split", "test", ("train", "test")) == "test"
    with pytest.raises(ValueError, match=r"unknown split 'x'; split must be one of \['train', 'test'\]"):
        C.must_be_choice("split", "x", ("train", "test"))
    with pytest.raises(ValueError, match="unknown split 1"):
        C.must_be_choice("split", 1, ("train", "test"))


def test_viz_scalar_checks():
    assert C.must_be_unit(1, "t") == 1.0
    with pytest.raises(TypeError, match=r"t must be a number in \[0, 1\]"):
        C.must_be_unit(True, "t")
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\], got 1.5"):
        C.must_be_unit(1.5, "alpha")
    assert C.must_be_percentile(None) is None and C.must_be_percentile(100) == 100.0
    with pytest.raises(TypeError, match="percentile must be a number"):
        C.must_be_percentile("99")
    with pytest.raises(ValueError, match=r"percentile must be in \(0, 100\]"):
        C.must_be_percentile(0)
    assert C.must_be_scale(np.int64(2)) == 2
    for bad in (0, True, 1.5):
        with pytest.raises(ValueError, match="scale must be an integer >= 1"):
            C.must_be_scale(bad)
    assert C.must_be_color(np.array([1, 2, 3])) == (1, 2, 3)
    with pytest.raises(TypeError, match="edge must be an .r, g, b. triple"):
        C.must_be_color(5, "edge")
    for bad in ((1, 2), (0, 0, 256), (True, 0, 0), (0.5, 0, 0)):
        with pytest.raises(ValueError, match="color must be an .r, g, b. triple"):
            C.must_be_color(bad)


# --------------------------------------------------------------------------- tensors and arrays


def test_check_images():
    x = C.check_images(torch.rand(3, 8, 8), "img")
    assert x.shape == (1, 3, 8, 8)
    with pytest.raises(TypeError, match="img: expected a torch.Tensor"):
        C.check_images(np.zeros((1, 3, 8, 8)), "img")
    with pytest.raises(ValueError, match=r"img: expected images of shape \[N,C,H,W\]"):
        C.check_images(torch.rand(8, 8), "img")
    with pytest.raises(TypeError, match="img: expected a floating-point tensor"):
        C.check_images(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), "img")
    with pytest.raises(ValueError, match="img: empty batch"):
        C.check_images(torch.rand(0, 3, 8, 8), "img")
    with pytest.raises(ValueError, match="img: the model expects 1 input channels, got 3"):
        C.check_images(torch.rand(1, 3, 8, 8), "img", channels=1)
    bad = torch.rand(1, 3, 8, 8)
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="img: contains NaN or inf values"):
        C.check_images(bad, "img")


def test_check_matrix_converts_to_float32_on_the_cpu():
    Z = C.check_matrix(np.arange(6, dtype=np.float64).reshape(3, 2))
    assert Z.dtype == torch.float32 and Z.shape == (3, 2)
    src = torch.ones(2, 2, requires_grad=True)
    out = C.check_matrix(src * 2)
    assert not out.requires_grad
    listed = C.check_matrix(np.eye(3).tolist(), "Z")
    assert torch.equal(listed, torch.eye(3))


@pytest.mark.parametrize("keep_dtype", [False, True])
def test_check_matrix_errors_name_the_argument(keep_dtype):
    for bad in (None, "abc", b"abc"):
        with pytest.raises(TypeError, match="^feats: expected a"):
            C.check_matrix(bad, "feats", keep_dtype=keep_dtype)
    with pytest.raises(TypeError, match="^feats: .*[Ss]parse"):  # scikit-learn's message, prefixed
        C.check_matrix(sp.csr_matrix(np.eye(3)), "feats", keep_dtype=keep_dtype)
    with pytest.raises(ValueError, match="^feats: .*(2D|2-dimensional)"):
        C.check_matrix(np.zeros(4), "feats", keep_dtype=keep_dtype)
    for shape in ((4,), (2, 2, 2), (0, 3), (3, 0)):
        with pytest.raises(ValueError, match="^feats: "):
            C.check_matrix(torch.zeros(shape), "feats", keep_dtype=keep_dtype)
    with pytest.raises(ValueError, match="^feats: .*(NaN|infinity)"):
        C.check_matrix(np.array([[1.0, np.nan]]), "feats", keep_dtype=keep_dtype)
    with pytest.raises(ValueError, match="feats: contains NaN or inf values"):
        C.check_matrix(torch.tensor([[1.0, float("inf")]]), "feats", keep_dtype=keep_dtype)


def test_check_matrix_messages_of_each_mode():
    with pytest.raises(TypeError, match=r"Z: expected a tensor or array \[N, D\], got NoneType"):
        C.check_matrix(None)
    with pytest.raises(TypeError, match=r"X: expected a torch.Tensor or numpy array \[N, m\], got str"):
        C.check_matrix("x", "X", keep_dtype=True)
    with pytest.raises(ValueError, match=r"Z: expected shape \[N, D\], got \(4,\)"):
        C.check_matrix(torch.zeros(4))
    with pytest.raises(ValueError, match=r"Z: empty \(\(0, 3\)\)"):
        C.check_matrix(torch.zeros(0, 3))
    with pytest.raises(ValueError, match=r"X: expected a non-empty matrix \[N, m\], got shape \(0, 3\)"):
        C.check_matrix(torch.zeros(0, 3), "X", keep_dtype=True)


def test_check_matrix_keep_dtype():
    x = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    assert C.check_matrix(x, "X", keep_dtype=True) is x
    ints = torch.ones(2, 2, dtype=torch.int32)
    assert C.check_matrix(ints, "X", keep_dtype=True).dtype == torch.int32
    for dtype in (torch.bool, torch.uint8, torch.int16):
        with pytest.raises(TypeError, match="X: expected real numbers, got dtype"):
            C.check_matrix(torch.ones(2, 2, dtype=dtype), "X", keep_dtype=True)
    assert C.check_matrix(torch.ones(2, 2, dtype=torch.bool)).dtype == torch.float32  # srae's mode converts


def test_check_vector():
    y = C.check_vector([1, 2, 3], 3)
    assert y.dtype == torch.float32 and y.tolist() == [1.0, 2.0, 3.0]
    assert C.check_vector(np.array([True, False]), 2, "positive", torch.bool).dtype == torch.bool
    assert C.check_vector(torch.tensor([[1.0, 2.0]]), 2, "labels", torch.long).tolist() == [1, 2]
    with pytest.warns(DataConversionWarning):
        assert C.check_vector(np.ones((3, 1)), 3).shape == (3,)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # only y warns about a column vector
        C.check_vector(np.ones((3, 1)), 3, "y_hat")
    with pytest.raises(ValueError, match="y: this estimator requires y to be passed"):
        C.check_vector(None, 3)
    with pytest.raises(ValueError, match="labels: Unknown label type"):
        C.check_vector(np.array(["a", "b"]), 2, "labels")
    with pytest.raises(TypeError, match=r"labels: expected a tensor or array \[N\], got int"):
        C.check_vector(5, 1, "labels")
    with pytest.raises(ValueError, match=r"y: expected shape \[N\], got \(2, 2\)"):
        C.check_vector(np.ones((2, 2)), 2)
    with pytest.raises(ValueError, match="y: has 2 entries but Z has 3 rows"):
        C.check_vector([1.0, 2.0], 3)
    with pytest.raises(ValueError, match="y: contains NaN or inf values"):
        C.check_vector([1.0, float("nan")], 2)
    assert C.check_vector(torch.tensor([1, 2]), 2, "labels", torch.long).dtype == torch.long


def test_numpy_helpers_of_viz():
    assert C.to_numpy(torch.ones(2, dtype=torch.float16), "h").dtype == np.float32
    a = np.zeros(2)
    assert C.to_numpy(a, "h") is a
    with pytest.raises(TypeError, match="h must be a torch.Tensor or a numpy.ndarray, got list"):
        C.to_numpy([1, 2], "h")
    with pytest.raises(TypeError, match="h must be a real-valued tensor"):
        C.to_numpy(torch.ones(2, dtype=torch.complex64), "h")
    assert C.float_array(np.array([True]), "h").dtype == np.float32
    assert C.float_array(np.array([1], np.int64), "h").dtype == np.float32
    assert C.float_array(np.array([1.0]), "h").dtype == np.float64
    with pytest.raises(TypeError, match="h must hold real numbers"):
        C.float_array(np.array(["a"]), "h")
    C.check_finite_array(np.ones(3), "h")
    with pytest.raises(ValueError, match=r"h contains non-finite values \(1 NaN, 2 inf\)"):
        C.check_finite_array(np.array([np.nan, np.inf, -np.inf]), "h")
    assert C.check_titles(None, 2) is None and C.check_titles((1, "b"), 2) == ["1", "b"]
    with pytest.raises(TypeError, match="titles must be a sequence of strings, not a single string"):
        C.check_titles("ab", 2)
    with pytest.raises(ValueError, match="row_titles must have 3 entries, got 2"):
        C.check_titles(["a", "b"], 3, "row_titles")


# --------------------------------------------------------------------------- devices


def test_devices():
    assert C.resolve_device(None) == torch.device("cpu")
    assert C.resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device: 'gpu7' is not a device"):
        C.resolve_device("gpu7")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            C.resolve_device("cuda")
    assert C.model_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert C.model_device(torch.nn.ReLU()) == torch.device("cpu")


# --------------------------------------------------------------------------- the old names still work


def test_old_private_names_are_the_shared_checks():
    from xnb import data, mulasso, srae, viz

    assert srae._as_2d is C.check_matrix and srae._as_1d is C.check_vector
    assert data._check_int is C.must_be_int and data._check_seed is C.must_be_seed
    assert data._check_choice is C.must_be_choice and data._is_int is C.is_int
    assert viz._to_numpy is C.to_numpy and viz._check_unit is C.must_be_unit
    with pytest.raises(TypeError, match=r"X: expected a torch.Tensor or numpy array \[N, m\]"):
        mulasso.MuLasso()._check_X(None)
