import numpy as np
import pytest
import scipy.io

from physdistill.errors import PhysDistillError
from physdistill.pde.data import MeasuredData, load_data


def _grid():
    x = np.linspace(-1, 1, 9)
    t = np.linspace(0, 1, 5)
    return x, t, np.sin(np.pi * x)[:, None] * np.exp(-t)[None, :]


def test_npz_and_mat_grids_load_alike(tmp_path):
    x, t, u = _grid()
    np.savez(tmp_path / "a.npz", x=x, t=t, u=u)
    scipy.io.savemat(tmp_path / "b.mat", {"x": x[:, None], "t": t[:, None], "usol": u})
    a, b = load_data(tmp_path / "a.npz"), load_data(tmp_path / "b.mat")
    assert a.grid is not None and b.grid is not None and len(a) == 45
    np.testing.assert_array_equal(a.xt, b.xt)
    np.testing.assert_array_equal(a.u, b.u)
    np.testing.assert_allclose(a.u.reshape(9, 5), u)
    assert a.domain == (-1.0, 1.0) and a.time_span == (0.0, 1.0)


def test_csv_is_scattered_points(tmp_path):
    rows = "x,t,u\n" + "\n".join(f"{i / 10},{i / 20},{i * i}" for i in range(12))
    (tmp_path / "d.csv").write_text(rows)
    d = load_data(tmp_path / "d.csv")
    assert d.grid is None and len(d) == 12 and d.u[3] == 9.0


def test_nan_is_an_error_naming_count_and_position(tmp_path):
    x, t, u = _grid()
    u[2, 3] = np.nan
    np.savez(tmp_path / "n.npz", x=x, t=t, u=u)
    with pytest.raises(PhysDistillError, match=r"u holds 1 NaN or infinite values \(first at "
                                               r"index \(2, 3\)\)"):
        load_data(tmp_path / "n.npz")
    (tmp_path / "n.csv").write_text("x,t,u\n" + "\n".join(
        f"{i},{i},{'nan' if i == 4 else i}" for i in range(12)))
    with pytest.raises(PhysDistillError, match="NaN"):
        load_data(tmp_path / "n.csv")


def test_mismatched_and_ragged_axes(tmp_path):
    x, t, u = _grid()
    np.savez(tmp_path / "m.npz", x=x, t=t, u=u.T)
    with pytest.raises(PhysDistillError, match=r"u has shape \(5, 9\), expected .*\(9, 5\).*"
                                               "transposed"):
        load_data(tmp_path / "m.npz")
    np.savez(tmp_path / "m2.npz", x=x[:-1], t=t, u=u)
    with pytest.raises(PhysDistillError, match=r"u has shape \(9, 5\), expected"):
        load_data(tmp_path / "m2.npz")
    (tmp_path / "r.csv").write_text("x,t,u\n1,2,3\n4,5\n" + "7,8,9\n" * 10)
    with pytest.raises(PhysDistillError, match="ragged rows .*line 3 has 2 fields"):
        load_data(tmp_path / "r.csv")
    with pytest.raises(PhysDistillError, match="same length"):
        MeasuredData.from_points(np.arange(12), np.arange(12), np.arange(11))
    with pytest.raises(PhysDistillError, match="strictly increasing"):
        MeasuredData.from_grid(x[::-1], t, u)


def test_mat_without_expected_variables_lists_what_it_has(tmp_path):
    scipy.io.savemat(tmp_path / "w.mat", {"xx": np.arange(3.0), "tt": np.arange(3.0),
                                          "U": np.ones((3, 3))})
    with pytest.raises(PhysDistillError, match=r"no variable x; .*the file has \['U', 'tt', "
                                               r"'xx'\]"):
        load_data(tmp_path / "w.mat")


def test_unknown_suffix_and_missing_file(tmp_path):
    (tmp_path / "a.txt").write_text("1")
    with pytest.raises(PhysDistillError, match="unknown type '.txt'"):
        load_data(tmp_path / "a.txt")
    with pytest.raises(PhysDistillError, match="does not exist"):
        load_data(tmp_path / "nope.npz")


def test_noise_is_relative_to_std():
    x, t, u = _grid()
    d = MeasuredData.from_grid(x, t, u)
    n = d.with_noise(0.1, seed=3)
    ratio = np.std(n.u - d.u) / np.std(d.u)
    assert 0.05 < ratio < 0.15 and n.grid[2].shape == u.shape
