"""Studies of many studies: benchmarks made of many runs, each run an ordinary study.

- :mod:`~cxr_isi.studies.sweep`: AUC against intra-source imbalance and fingerprint strength;
- :mod:`~cxr_isi.studies.error_rates`: how often the verdict is wrong where the answer is known;
- :mod:`~cxr_isi.studies.external`: what a model scores elsewhere, against what it scores at home;
- :mod:`~cxr_isi.studies.casepool`: the one process pool those benchmarks share.

The run machinery (:mod:`cxr_isi.study`) never imports this package (an import contract says so).
"""
