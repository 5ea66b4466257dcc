"""CH:ADR / CH:PPQ: the patient's access rights (policy model, decision engine, PPQ messages).

Transport- and storage-free: ``model`` (the official policy stack as data), ``engine`` (decisions),
``xacml`` (policy sets <-> XACML 2.0, the PPQ wire form), ``provide`` (the default confidentiality
applied to a submission).
"""
