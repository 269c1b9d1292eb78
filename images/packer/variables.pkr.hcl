# Inputs of the appliance build. `drydock build` writes them into a .pkrvars.hcl file; run by hand,
# pass them with -var or -var-file. Nothing here names a vendor's backend: that comes in the payload.

variable "name" {
  type        = string
  default     = "drydock-appliance"
  description = "Appliance name (image and VM name)."
}

variable "version" {
  type        = string
  default     = "0.0.0"
  description = "Appliance version (the release installed on the box)."
}

variable "build_user" {
  type        = string
  default     = "drydock-build"
  description = "The user Packer connects as; the seal step deletes it."
}

variable "payload_dir" {
  type        = string
  description = "Folder staged by drydock build: the app, the release bundle, k3s and images, inputs.json."
}

variable "provision_scripts" {
  type        = list(string)
  description = "The shell provisioners from appliance/provision, in order."
}

variable "cluster" {
  type        = string
  default     = "k3s"
  description = "Cluster driver the box is initialised with: k3s, or standin when the image has no k3s."
}

variable "seal_script" {
  type        = string
  default     = "seal.sh"
  description = "Runs last: machine-id, SSH host keys, logs, apt lists, build user."
}

# --- the local qemu source: boots the base disk made by images/base ---

variable "base_disk" {
  type        = string
  default     = ""
  description = "The base OS disk (qcow2) from images/base."
}

variable "data_disk" {
  type        = string
  default     = ""
  description = "A working copy of the base's data disk (qcow2): the provisioners put k3s and Drydock state on it."
}

variable "ssh_private_key_file" {
  type        = string
  default     = ""
  description = "Private key of the build user (made with the base disk)."
}

variable "output_dir" {
  type        = string
  default     = "output"
  description = "Where the qemu source writes the golden disk (must not exist)."
}

variable "accelerator" {
  type        = string
  default     = "tcg"
  description = "kvm when it works on the build host, tcg otherwise."
}

variable "cpus" {
  type    = number
  default = 2
}

variable "memory_mb" {
  type    = number
  default = 2048
}

variable "console_log" {
  type        = string
  default     = "console.log"
  description = "The guest's serial console goes to this file."
}

# --- the amazon-ebs source: the same provisioners on Debian's own AMI ---

variable "aws_region" {
  type    = string
  default = "eu-central-1"
}

variable "aws_instance_type" {
  type    = string
  default = "t3.large"
}

variable "aws_source_ami_name" {
  type        = string
  default     = "debian-13-amd64-*"
  description = "Name filter of the source AMI (Debian's official images)."
}

variable "aws_source_ami_owner" {
  type        = string
  default     = "136693071363"
  description = "The Debian cloud team's AWS account."
}

variable "aws_ssh_username" {
  type    = string
  default = "admin"
}

variable "aws_root_volume_gb" {
  type    = number
  default = 16
}

variable "base_disk_checksum" {
  type        = string
  default     = "none"
  description = "sha256:<hex> of the base disk (drydock build passes it)."
}

variable "disk_size" {
  type        = string
  default     = "8256M"
  description = "Virtual size of the golden disk; keep it the base disk's size (its GPT ends there)."
}
