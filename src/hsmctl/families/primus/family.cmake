# Securosys Primus: primus.cfg (libconfig++, only here), the ppin client, observe, pure plan,
# staged apply.
hsmctl_module(fam_primus DIR families/primus
  PUBLIC util model plan store family
  PRIVATE manifest secrets PkgConfig::LIBCONFIGXX)
