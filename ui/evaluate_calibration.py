"""The Evaluate page's Calibration tab: ECE before and after scaling, reliability diagrams."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fashion_core.analysis import calibrate_run
from fashion_core.runs import RunDir, RunRecord
from fashion_core.serving import ECE_TARGET, calibration_summary, read_calibration
from fashion_core.views import reliability_figure
from ui.services import get_store
from ui.widgets import stage_progress


def calibration_tab(run: RunRecord) -> None:
    """The run's calibration figures, or a button that fits them."""
    calibration = read_calibration(RunDir(run.run_dir))
    if calibration is None:
        st.info("This run is not calibrated yet. Calibration fits a temperature and a label-noise share per category on the "
                "validation images (so that 80% means right 80% of the time) and learns what its training photos look like "
                "(so that prediction can warn about unfamiliar photos).", icon=":material/tune:")
        if st.button("Calibrate the run", key="evaluate_calibrate", type="primary", icon=":material/tune:"):
            calibrate_run(get_store(), run.id, on_progress=stage_progress("Calibrating"))
            st.rerun()
        return
    report = calibration.report
    rows = pd.DataFrame([{"category": c, **r} for c, r in calibration_summary(report).items()])
    rows["judged"] = [("under target" if u else "OVER target") if j else "too few images"
                      for j, u in zip(rows.pop("judgeable"), rows.pop("under_target"))]
    rows = rows.rename(columns={"before": "ECE before", "after": "ECE after", "noise_floor": "noise floor",
                                "held_out": "ECE held out", "label_noise": "label noise",
                                "images": "validation images", "judged": f"ECE < {ECE_TARGET}"})
    st.caption(f"Calibrated {str(report.get('created_at', '-'))[:16].replace('T', ' ')}: expected calibration error "
               f"(ECE, lower is better) before and after scaling (temperature, then the share of labels the model "
               f"is not expected to agree with: label noise). Held out: the ECE when each half of the validation "
               f"images is scaled by a fit on the other half. Noise floor: the ECE a perfectly "
               f"calibrated model would show on as many images; a category is judged against {ECE_TARGET} only "
               f"when its floor is at most half of that (else: too few images). {report.get('val_unfamiliar', 0):.1%} of the validation images would be "
               "called unfamiliar."
               + (f" All single-choice categories together: ECE {report['pooled']['before']:.3f} → "
                  f"{report['pooled']['after']:.3f} ({report['pooled']['images']:,} images)."
                  if report.get("pooled") else ""))
    st.dataframe(rows, hide_index=True, key="evaluate_calibration_table",
                 column_config={k: st.column_config.NumberColumn(format="%.3f")
                                for k in ("ECE before", "ECE after", "ECE held out", "noise floor", "temperature",
                                          "label noise")})
    name = st.selectbox("Reliability diagram of", list(report["heads"]), key="evaluate_calibration_category")
    st.plotly_chart(reliability_figure(report["heads"][name], name), key="evaluate_reliability")
    if st.button("Calibrate again", key="evaluate_recalibrate", icon=":material/refresh:"):
        calibrate_run(get_store(), run.id, on_progress=stage_progress("Calibrating"))
        st.rerun()
