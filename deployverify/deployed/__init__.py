"""What AWS runs, against what was built and declared.

- fetch.py: download and unpack a deployed function's zip (the stub scan of live code, DV104's file comparison).
- code_identity.py: is the deployed code the built code (DV104 before a deploy, DV603 after); the one CodeSha256.
- configuration.py: is the function configured as the template says (DV601, DV602).
"""
