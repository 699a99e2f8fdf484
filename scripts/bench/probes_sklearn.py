"""scikit-learn's LogisticRegression on the matrix probe_fit_bench wrote: the reference timing.

sklearn 1.2's lbfgs minimises sum CE + ||W||^2 / (2C), n times headlab's mean objective for
C = 1 / (lambda n), and stops when max |gradient| <= tol of that sum: tol = n * headlab's tol is the
same stopping point.
usage: probes_sklearn.py DATA.h5 HEADLAB_TOL
"""
import sys
import time
import warnings

import h5py
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

f = h5py.File(sys.argv[1], "r")
X = f["X"][...]
y = f["y"][...]
l2 = float(f.attrs["l2"])
n = X.shape[0]
m = LogisticRegression(C=1.0 / (l2 * n), multi_class="multinomial", solver="lbfgs", tol=float(sys.argv[2]) * n,
                       max_iter=1000)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    t0 = time.perf_counter()
    m.fit(X, y)
    seconds = time.perf_counter() - t0
P = m.predict_proba(X)
objective = -np.log(P[np.arange(n), y]).mean() + 0.5 * l2 * (m.coef_ ** 2).sum()
print("sklearn  fit %.3f s, %d iterations, objective %.6f, train accuracy %.4f (scikit-learn %s, float64)"
      % (seconds, m.n_iter_[0], objective, (m.predict(X) == y).mean(), __import__("sklearn").__version__))
