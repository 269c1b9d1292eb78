# Current Packer (1.7 and later) loads builders as plugins. This block lives in its own folder because
# Debian's Packer 1.6.6 (builders built in) refuses `required_plugins` in any file it loads, and it
# loads every *.pkr.hcl and *.pkr.json beside the templates. With current Packer:
#   packer init images/packer/plugins && packer build -var-file=… images/packer
# (`drydock build` does both when it finds a Packer that needs plugins.)
packer {
  required_version = ">= 1.7.0"
  required_plugins {
    qemu = {
      version = ">= 1.1.0"
      source  = "github.com/hashicorp/qemu"
    }
    amazon = {
      version = ">= 1.3.0"
      source  = "github.com/hashicorp/amazon"
    }
  }
}
