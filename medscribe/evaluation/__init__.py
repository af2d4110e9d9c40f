"""`medscribe eval aci-bench`: note quality and the claim checker measured on ACI-Bench."""
