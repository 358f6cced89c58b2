"""Organisations: units stationed in the community (驻区单位) and shops / outlets (商网)."""
