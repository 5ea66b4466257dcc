"""Codes of the DICOM / RFC 3881 audit messages the IHE ITI transactions specify.

Each code is ``(code, codeSystemName, displayName)``. Sources: DICOM PS3.15 A.5 and PS3.16 (DCM
codes), RFC 3881 (ParticipantObjectIDTypeCode), IHE ITI TF-2 (each transaction's "Security
Considerations": event ids, type codes, participant roles and objects), IHE XDS metadata
classification node for submission sets; eHealth Suisse's ATNA additions (AuditEnterpriseSiteID an
OID, purpose of use when the request carried XUA, the XUA role as RoleIDCode).
"""
from __future__ import annotations

Code = tuple[str, str, str]

# -- EventID (DICOM PS3.16 CID 400 / CID 403) -----------------------------------------------
EV_EXPORT: Code = ("110106", "DCM", "Export")
EV_IMPORT: Code = ("110107", "DCM", "Import")
EV_PATIENT_RECORD: Code = ("110110", "DCM", "Patient Record")
EV_QUERY: Code = ("110112", "DCM", "Query")
EV_SECURITY_ALERT: Code = ("110113", "DCM", "Security Alert")
EV_USER_AUTHENTICATION: Code = ("110114", "DCM", "User Authentication")

# -- ActiveParticipant RoleIDCode ---------------------------------------------------------------
ROLE_SOURCE: Code = ("110153", "DCM", "Source Role ID")
ROLE_DESTINATION: Code = ("110152", "DCM", "Destination Role ID")
ROLE_APPLICATION: Code = ("110150", "DCM", "Application")

# -- EventTypeCode: the IHE transaction ----------------------------------------------------------
IHE_TRANSACTIONS = "IHE Transactions"
TRANSACTION_NAMES = {
    "ITI-18": "Registry Stored Query",
    "ITI-38": "Cross Gateway Query",
    "ITI-39": "Cross Gateway Retrieve",
    "ITI-41": "Provide and Register Document Set-b",
    "ITI-42": "Register Document Set-b",
    "ITI-43": "Retrieve Document Set",
    "ITI-44": "Patient Identity Feed HL7v3",
    "ITI-45": "PIX Query",
    "ITI-47": "Patient Demographics Query",
    "ITI-55": "Cross Gateway Patient Discovery",
    "ITI-57": "Update Document Set",
    "ITI-81": "Retrieve ATNA Audit Event",
    "PPQ-1": "Privacy Policy Feed",
    "PPQ-2": "Privacy Policy Retrieve",
}

# -- ParticipantObjectIDTypeCode (RFC 3881 / IHE) ------------------------------------------------
OBJ_PATIENT_NUMBER: Code = ("2", "RFC-3881", "Patient Number")
OBJ_REPORT_NUMBER: Code = ("9", "RFC-3881", "Report Number")
OBJ_SUBMISSION_SET: Code = ("urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd", "IHE XDS Metadata",
                            "submission set classificationNode")

# ParticipantObjectTypeCode / ParticipantObjectTypeCodeRole
TYPE_PERSON = "1"
TYPE_SYSTEM = "2"
ROLE_PATIENT = "1"
ROLE_REPORT = "3"
ROLE_JOB = "20"
ROLE_QUERY = "24"

# -- EPR value sets -----------------------------------------------------------------------------
EPR_ROLE_SYSTEM = "2.16.756.5.30.1.127.3.10.6"        # HCP, ASS, TCU, PAT, REP, PADM, DADM
EPR_PURPOSE_SYSTEM = "2.16.756.5.30.1.127.3.10.5"     # NORM, EMER, AUTO, DICOM_AUTO
EPR_ROLE_NAMES = {"HCP": "Healthcare professional", "ASS": "Assistant", "TCU": "Technical user",
                  "PAT": "Patient", "REP": "Representative", "PADM": "Policy administrator",
                  "DADM": "Document administrator"}
EPR_PURPOSE_NAMES = {"NORM": "Normal access", "EMER": "Emergency access", "AUTO": "Automatic upload",
                     "DICOM_AUTO": "DICOM automatic upload"}

#: AuditSourceTypeCode 4: application server process tier.
SOURCE_TYPE_APPLICATION_SERVER = "4"

#: NetworkAccessPointTypeCode: 1 machine name, 2 IP address, 5 URI.
NAP_MACHINE = "1"
NAP_IP = "2"
