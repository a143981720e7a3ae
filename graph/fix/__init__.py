"""Remediation with approvals: plan -> dry run -> approval card -> decision -> execute
-> verify -> report and ask for feedback."""
