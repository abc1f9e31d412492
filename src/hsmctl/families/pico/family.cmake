# Pico HSM: the family adapter over the SmartCard-HSM engine.
hsmctl_module(fam_pico DIR families/pico
  PUBLIC family
  PRIVATE util model plan manifest store secrets device device_schsm device_connect
  fam_schsm_engine)
