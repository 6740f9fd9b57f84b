"""The official kit, CTK-Customer-4.0.0: its builds as data, and its test scripts' semantics.

``certified.json`` and ``published.json`` describe the two builds request by
request (:mod:`ctk_runner.kit.builds` loads them); :mod:`ctk_runner.kit.script`
runs a request's script description against a response with the rules of
JavaScript that :mod:`ctk_runner.kit.js` spells out.
"""
