"""The outside reference for headlab's probes: scikit-learn's LogisticRegression (multinomial, L2,
lbfgs) and Ridge, fitted on the same data. headlab minimises (1/n) sum CE + (lambda/2) ||W||^2; sklearn
minimises C sum CE + (1/2) ||W||^2, the same function times n C, so C = 1 / (lambda n). Ridge: headlab
minimises (1/n) sum (y - Xw - b)^2 + lambda ||w||^2, sklearn ||y - Xw - b||^2 + alpha ||w||^2, so
alpha = lambda n.

usage: sklearn_reference.py IN.h5 OUT.h5
IN: /X_train [n, d] /y_train [n] /X_test /y_test, attributes l2, kind ("logistic" | "ridge")
OUT: /W [k, d] /b [k], attribute test_score (accuracy or R^2), n_iter
"""
import sys

import h5py
import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge

src = h5py.File(sys.argv[1], "r")
X = src["X_train"][...].astype(np.float64)
y = src["y_train"][...]
Xt = src["X_test"][...].astype(np.float64)
yt = src["y_test"][...]
l2 = float(src.attrs["l2"])
n = X.shape[0]
with h5py.File(sys.argv[2], "w") as out:
    if src.attrs["kind"] == "logistic":
        m = LogisticRegression(C=1.0 / (l2 * n), multi_class="multinomial", solver="lbfgs", tol=1e-10,
                               max_iter=100000)
        m.fit(X, y)
        out["W"] = m.coef_
        out["b"] = m.intercept_
        out.attrs["test_score"] = float((m.predict(Xt) == yt).mean())
        out.attrs["n_iter"] = int(m.n_iter_[0])
    else:
        m = Ridge(alpha=l2 * n, fit_intercept=True, solver="cholesky")
        m.fit(X, y)
        out["W"] = m.coef_[None, :]
        out["b"] = np.array([m.intercept_])
        out.attrs["test_score"] = float(m.score(Xt, yt))
        out.attrs["n_iter"] = 0
