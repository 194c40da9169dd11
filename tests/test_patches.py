import numpy as np
import pytest

from skrecover.patches import check_patch_indices, is_tiling, make_patch_indices


def explicit_2d(H, W, C, r1, r2, s1, s2):
    """Patch indices by loops over an (H, W, C) image flattened in C order."""
    image = np.arange(H * W * C).reshape(H, W, C)
    return np.array(
        [
            image[i : i + r1, j : j + r2, :].ravel()
            for i in range(0, H - r1 + 1, s1)
            for j in range(0, W - r2 + 1, s2)
        ]
    )


@pytest.mark.parametrize(
    "shape, patch, stride",
    [
        ((6, 6, 1), (3, 3), None),
        ((6, 8, 3), (2, 4), None),
        ((7, 8, 2), (3, 2), (2, 3)),
        ((5, 5, 1), (2, 2), (1, 1)),
    ],
)
def test_2d_patches_match_explicit_slices(shape, patch, stride):
    H, W, C = shape
    input_shape = shape if C > 1 else (H, W)
    indices = make_patch_indices(
        H * W * C, patch, input_shape=input_shape, stride=stride
    )
    step = patch if stride is None else stride
    assert np.array_equal(indices, explicit_2d(H, W, C, *patch, *step))


def test_1d_patches_with_and_without_channels():
    assert np.array_equal(make_patch_indices(8, 4), [[0, 1, 2, 3], [4, 5, 6, 7]])
    assert np.array_equal(
        make_patch_indices(7, 3, stride=2), [[0, 1, 2], [2, 3, 4], [4, 5, 6]]
    )
    # (L, C) = (4, 2), patches of 2 positions read 4 features.
    assert np.array_equal(
        make_patch_indices(8, 2, input_shape=(4, 2)), [[0, 1, 2, 3], [4, 5, 6, 7]]
    )


def patch_sum_operator(indices, n_features):
    """S = sum_l P_l, the r x n matrix of the summed patch operators."""
    S = np.zeros((indices.shape[1], n_features))
    for patch in indices:
        S[np.arange(indices.shape[1]), patch] += 1
    return S


def test_2d_patch_operator_is_the_kronecker_product_of_1d_ones():
    """GKM18: S_2D = S_rows (x) S_cols for strided 2-D patches."""
    H, W, r1, r2, s1, s2 = 9, 8, 3, 2, 2, 3
    two_d = make_patch_indices(H * W, (r1, r2), input_shape=(H, W), stride=(s1, s2))
    rows = make_patch_indices(H, r1, stride=s1)
    cols = make_patch_indices(W, r2, stride=s2)
    assert np.array_equal(
        patch_sum_operator(two_d, H * W),
        np.kron(patch_sum_operator(rows, H), patch_sum_operator(cols, W)),
    )


def test_tiling():
    assert is_tiling(make_patch_indices(12, (2, 3), input_shape=(4, 3)), 12)
    assert is_tiling(make_patch_indices(24, (2, 2), input_shape=(2, 6, 2)), 24)
    assert not is_tiling(make_patch_indices(6, 2, stride=1), 6)
    with pytest.warns(UserWarning, match="unread"):
        untiled = make_patch_indices(15, (2, 3), input_shape=(5, 3))
    assert not is_tiling(untiled, 15)


def test_errors_and_warnings():
    with pytest.raises(ValueError, match="has 12 entries but X has 10"):
        make_patch_indices(10, 2, input_shape=(3, 4))
    with pytest.raises(ValueError, match="does not fit in an input of size 3"):
        make_patch_indices(3, 4)
    with pytest.raises(ValueError, match="positive integers"):
        make_patch_indices(6, 0)
    with pytest.raises(ValueError, match="as many entries"):
        make_patch_indices(16, (2, 2), input_shape=(4, 4), stride=(1, 1, 1))
    with pytest.raises(ValueError, match="spatial"):
        make_patch_indices(16, 2, input_shape=(2, 2, 2, 2))
    with pytest.warns(UserWarning, match="leave the last 1 of 7 positions unread"):
        make_patch_indices(7, 3)
    with pytest.raises(ValueError, match=r"lie in \[0, 4\)"):
        check_patch_indices([[0, 4]], 4)
    with pytest.raises(ValueError, match="same feature twice"):
        check_patch_indices([[1, 1]], 4)
    with pytest.raises(ValueError, match="2-D"):
        check_patch_indices([0, 1], 4)
    with pytest.raises(ValueError, match="integers"):
        check_patch_indices([[0.5, 1]], 4)
