# The SmartCard-HSM command engine shared by the Pico HSM and SmartCard-HSM families (observe,
# credential facts, pure diff, two-phase execute); registered as no family of its own.
hsmctl_module(fam_schsm_engine DIR families/schsm_engine
  PUBLIC util model plan store device device_schsm family
  PRIVATE secrets device_connect)
