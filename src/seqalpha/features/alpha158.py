"""Qlib's Alpha158 factor library: names and expressions, in Qlib's order (kbar, price, rolling)."""

from __future__ import annotations

WINDOWS = (5, 10, 20, 30, 60)


def alpha158_expressions() -> dict[str, str]:
    """The 158 Alpha158 features as `name -> Qlib expression`, ordered as Qlib orders them."""
    f: dict[str, str] = {
        "KMID": "($close-$open)/$open",
        "KLEN": "($high-$low)/$open",
        "KMID2": "($close-$open)/($high-$low+1e-12)",
        "KUP": "($high-Greater($open, $close))/$open",
        "KUP2": "($high-Greater($open, $close))/($high-$low+1e-12)",
        "KLOW": "(Less($open, $close)-$low)/$open",
        "KLOW2": "(Less($open, $close)-$low)/($high-$low+1e-12)",
        "KSFT": "(2*$close-$high-$low)/$open",
        "KSFT2": "(2*$close-$high-$low)/($high-$low+1e-12)",
    }
    for field in ("open", "high", "low", "vwap"):
        f[f"{field.upper()}0"] = f"${field}/$close"
    ret = "$close/Ref($close, 1)"
    diff, vdiff = "$close-Ref($close, 1)", "$volume-Ref($volume, 1)"
    families = {
        "ROC": "Ref($close, {d})/$close",
        "MA": "Mean($close, {d})/$close",
        "STD": "Std($close, {d})/$close",
        "BETA": "Slope($close, {d})/$close",
        "RSQR": "Rsquare($close, {d})",
        "RESI": "Resi($close, {d})/$close",
        "MAX": "Max($high, {d})/$close",
        "MIN": "Min($low, {d})/$close",
        "QTLU": "Quantile($close, {d}, 0.8)/$close",
        "QTLD": "Quantile($close, {d}, 0.2)/$close",
        "RANK": "Rank($close, {d})",
        "RSV": "($close-Min($low, {d}))/(Max($high, {d})-Min($low, {d})+1e-12)",
        "IMAX": "IdxMax($high, {d})/{d}",
        "IMIN": "IdxMin($low, {d})/{d}",
        "IMXD": "(IdxMax($high, {d})-IdxMin($low, {d}))/{d}",
        "CORR": "Corr($close, Log($volume+1), {d})",
        "CORD": "Corr($close/Ref($close,1), Log($volume/Ref($volume, 1)+1), {d})",
        "CNTP": "Mean($close>Ref($close, 1), {d})",
        "CNTN": "Mean($close<Ref($close, 1), {d})",
        "CNTD": "Mean($close>Ref($close, 1), {d})-Mean($close<Ref($close, 1), {d})",
        "SUMP": f"Sum(Greater({diff}, 0), {{d}})/(Sum(Abs({diff}), {{d}})+1e-12)",
        "SUMN": f"Sum(Greater(Ref($close, 1)-$close, 0), {{d}})/(Sum(Abs({diff}), {{d}})+1e-12)",
        "SUMD": f"(Sum(Greater({diff}, 0), {{d}})-Sum(Greater(Ref($close, 1)-$close, 0), {{d}}))"
        f"/(Sum(Abs({diff}), {{d}})+1e-12)",
        "VMA": "Mean($volume, {d})/($volume+1e-12)",
        "VSTD": "Std($volume, {d})/($volume+1e-12)",
        "WVMA": f"Std(Abs({ret}-1)*$volume, {{d}})/(Mean(Abs({ret}-1)*$volume, {{d}})+1e-12)",
        "VSUMP": f"Sum(Greater({vdiff}, 0), {{d}})/(Sum(Abs({vdiff}), {{d}})+1e-12)",
        "VSUMN": "Sum(Greater(Ref($volume, 1)-$volume, 0), {d})"
        f"/(Sum(Abs({vdiff}), {{d}})+1e-12)",
        "VSUMD": f"(Sum(Greater({vdiff}, 0), {{d}})"
        "-Sum(Greater(Ref($volume, 1)-$volume, 0), {d}))"
        f"/(Sum(Abs({vdiff}), {{d}})+1e-12)",
    }
    for name, template in families.items():
        for d in WINDOWS:
            f[f"{name}{d}"] = template.format(d=d)
    return f


ALPHA158_LABEL = {"LABEL0": "Ref($close, -2)/Ref($close, -1) - 1"}
