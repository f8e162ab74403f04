<#
  Writes %ProgramData%\CalmLine\policy.toml from the MSI's policy properties.
  Run by the MSI (deferred, LocalSystem); the file is readable by everyone and
  writable only by Administrators and SYSTEM. An empty value leaves that setting out.
#>
param(
  [Parameter(Mandatory = $true)][string]$Folder,
  [string]$RecordingAllowed = "",
  [string]$RetentionDays = ""
)
$ErrorActionPreference = "Stop"

$locked = @()
$general = @()
if ($RecordingAllowed -ne "") {
  if ($RecordingAllowed -notin @("0", "1")) { throw "RECORDING_ALLOWED must be 0 or 1, not '$RecordingAllowed'" }
  $locked += '"general.recording_enabled"'
  $general += "recording_enabled = $(if ($RecordingAllowed -eq '1') { 'true' } else { 'false' })"
}
if ($RetentionDays -ne "") {
  $days = 0
  if (-not [int]::TryParse($RetentionDays, [ref]$days) -or $days -lt 0) {
    throw "RETENTION_DAYS must be a whole number of days, not '$RetentionDays'"
  }
  $locked += '"general.retention_days"'
  $general += "retention_days = $days"
}

$text = @(
  "# Written by the CalmLine installer from its MSI properties; removed on uninstall.",
  "locked = [$($locked -join ', ')]",
  "",
  "[general]"
) + $general
New-Item -ItemType Directory -Force -Path $Folder | Out-Null
$path = Join-Path $Folder "policy.toml"
[System.IO.File]::WriteAllText($path, ($text -join "`r`n") + "`r`n", (New-Object System.Text.UTF8Encoding $false))

# Everyone reads; only Administrators and SYSTEM write (no inherited user rights).
& icacls.exe $Folder /inheritance:r /grant:r "*S-1-5-32-544:(OI)(CI)F" "*S-1-5-18:(OI)(CI)F" "*S-1-5-32-545:(OI)(CI)RX" | Out-Null
if ($LASTEXITCODE -ne 0) { throw "icacls failed on $Folder" }
