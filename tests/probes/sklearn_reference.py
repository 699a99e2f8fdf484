"""The outside reference for headlab's probes: scikit-learn's LogisticRegression (multinomial, L2,
lbfgs) and Ridge, fitted on the same data. headlab minimises (1/n) sum CE + (lambda/2) ||W||^2; sklearn
minimises C sum CE + (1/2) ||W||^2, the same function times n C, so C = 1 / (lambda n). Ridge: headlab
minimises (1/n) sum (y - Xw - b)^2 + lambda ||w||^2, sklearn ||y - Xw - b||^2 + alpha ||w||^2, so
alpha = lambda n.

usage: sklearn_reference.py IN.h5 OUT.h5
IN: one group per problem (/logistic, /ridge): X_train [n, d], y_train [n], X_test, y_test, attribute l2
OUT: the same groups with W [k, d], b [k], attribute test_score (accuracy or R^2), n_iter
"""
import sys

import h5py
import numpy as np

try:
    from sklearn.linear_model import LogisticRegression, Ridge
except ImportError:
    sys.exit(77)  # the test skips: no scikit-learn here

src = h5py.File(sys.argv[1], "r")
with h5py.File(sys.argv[2], "w") as out:
    for kind in src:
        g = src[kind]
        X = g["X_train"][...].astype(np.float64)
        y = g["y_train"][...]
        Xt = g["X_test"][...].astype(np.float64)
        yt = g["y_test"][...]
        l2 = float(g.attrs["l2"])
        n = X.shape[0]
        o = out.create_group(kind)
        if kind == "logistic":
            m = LogisticRegression(C=1.0 / (l2 * n), multi_class="multinomial", solver="lbfgs", tol=1e-10,
                                   max_iter=100000)
            m.fit(X, y)
            o["W"] = m.coef_
            o["b"] = m.intercept_
            o.attrs["test_score"] = float((m.predict(Xt) == yt).mean())
            o.attrs["n_iter"] = int(m.n_iter_[0])
        else:
            m = Ridge(alpha=l2 * n, fit_intercept=True, solver="cholesky")
            m.fit(X, y)
            o["W"] = m.coef_[None, :]
            o["b"] = np.array([m.intercept_])
            o.attrs["test_score"] = float(m.score(Xt, yt))
            o.attrs["n_iter"] = 0
