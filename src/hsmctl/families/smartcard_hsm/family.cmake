# CardContact SmartCard-HSM / Nitrokey HSM 2: a kind, a schema and Capabilities over the shared
# SmartCard-HSM engine (its header names schsm_engine::Capabilities, hence PUBLIC).
hsmctl_module(fam_smartcard_hsm DIR families/smartcard_hsm
  PUBLIC family fam_schsm_engine
  PRIVATE util manifest)
