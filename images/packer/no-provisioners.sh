#!/bin/sh
# Stands in for appliance/provision when that folder has no scripts yet: the build still boots the
# base disk, uploads the payload and seals, and says plainly that nothing was provisioned.
echo "drydock: appliance/provision has no scripts; nothing provisioned beyond the base OS"
