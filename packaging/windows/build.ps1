<#
  Build CalmLine for Windows: the frozen app (PyInstaller, one folder) and a
  per-machine MSI (WiX v5), then test a silent install, the policy properties,
  the installed app's --version and analyze, and a silent uninstall.

    powershell -ExecutionPolicy Bypass -File packaging\windows\build.ps1 -DemoCall demo_call.flac

  -DemoCall: the pre-rendered demo call (the Linux job renders it with espeak-ng).
  Needs Python 3.11 on PATH and the .NET SDK (for the wix tool). Output: packaging\.work\CalmLine-<version>.msi
  Runs on a Windows runner only (see packaging\README.md).
#>
param(
  [Parameter(Mandatory = $true)][string]$DemoCall,
  [string]$Python = "python",
  [string]$WixVersion = "5.0.2",
  [switch]$SkipInstallTest
)
$ErrorActionPreference = "Stop"
Set-StrictMode -Version Latest

$Here = Split-Path -Parent $MyInvocation.MyCommand.Path
$Packaging = Split-Path -Parent $Here
$Root = Split-Path -Parent $Packaging
$Work = Join-Path $Packaging ".work"
$Venv = Join-Path $Work "venv-win"
$DemoCall = (Resolve-Path $DemoCall).Path

function Invoke-Checked([string]$What, [scriptblock]$Block) {
  & $Block
  if ($LASTEXITCODE -ne 0) { throw "$What failed (exit $LASTEXITCODE)" }
}

New-Item -ItemType Directory -Force -Path $Work | Out-Null

# A dedicated venv: runtime dependencies (PyAudioWPatch included) and PyInstaller only.
if (-not (Test-Path "$Venv\Scripts\python.exe")) { Invoke-Checked "venv" { & $Python -m venv $Venv } }
$Py = "$Venv\Scripts\python.exe"
Invoke-Checked "pip" { & $Py -m pip install -q --upgrade pip }
Invoke-Checked "pip" { & $Py -m pip install -q "pyinstaller==6.22.3" pillow }
Invoke-Checked "pip" { & $Py -m pip install -q $Root }
& $Py -m pip show -q numba 2>$null
if ($LASTEXITCODE -eq 0) { throw "numba is in the build venv; it must not be a runtime dependency" }
$Version = (& $Py -c "from importlib.metadata import version; print(version('calmline'))").Trim()

# Icon (PNG; PyInstaller converts it to .ico with Pillow) and the frozen app.
Invoke-Checked "icon" { & $Py "$Packaging\render_icon.py" "$Work\icons" 256 }
$env:CALMLINE_ICON = "$Work\icons\calmline-256.png"
$env:CALMLINE_DEMO_WAV = $DemoCall
Remove-Item -Recurse -Force "$Work\dist", "$Work\build" -ErrorAction SilentlyContinue
Invoke-Checked "pyinstaller" {
  & "$Venv\Scripts\pyinstaller.exe" --noconfirm --log-level WARN --distpath "$Work\dist" `
    --workpath "$Work\build" "$Packaging\calmline.spec"
}
$App = "$Work\dist\calmline"
if (Get-ChildItem -Recurse $App -Include "*numba*", "*llvmlite*") { throw "JIT compiler files in the bundle" }
if (-not (Get-ChildItem -Recurse $App -Include "*portaudio*")) { throw "no PortAudio DLL in the bundle" }
if (-not (Get-ChildItem -Recurse $App -Include "_portaudiowpatch*")) { throw "PyAudioWPatch (WASAPI loopback) is not bundled" }

# Smoke test of the frozen app.
Invoke-Checked "--version" { & "$App\calmline.exe" --version }
$out = & "$App\calmline.exe" analyze $DemoCall
if ($LASTEXITCODE -ne 0 -or -not ($out -match "interruption")) { throw "frozen analyze failed: $out" }
$size = (Get-ChildItem -Recurse $App | Measure-Object -Sum Length).Sum / 1MB
Write-Host ("bundle: {0:N1} MiB" -f $size)

# The MSI.
Invoke-Checked "wix install" { dotnet tool update --global wix --version $WixVersion }
Invoke-Checked "wix extension" { wix extension add --global "WixToolset.Util.wixext/$WixVersion" }
$Ico = Get-ChildItem -Recurse "$Work\build" -Filter "*.ico" | Select-Object -First 1
if (-not $Ico) { throw "PyInstaller left no .ico in its work folder" }
$Msi = "$Work\CalmLine-$Version.msi"
Invoke-Checked "wix build" {
  wix build "$Here\calmline.wxs" -arch x64 -ext WixToolset.Util.wixext `
    -d "Version=$Version" -d "AppDir=$App" -d "IconFile=$($Ico.FullName)" -o $Msi
}
Write-Host ("msi: {0:N1} MiB" -f ((Get-Item $Msi).Length / 1MB))
if ($SkipInstallTest) { return }

# Silent per-machine install with policy properties, then checks, then silent uninstall.
$Installed = Join-Path $env:ProgramFiles "CalmLine"
$Policy = Join-Path $env:ProgramData "CalmLine\policy.toml"
$p = Start-Process msiexec.exe -Wait -PassThru -ArgumentList @("/i", "`"$Msi`"", "/qn",
  "RECORDING_ALLOWED=0", "START_AT_LOGIN=1", "/l*v", "`"$Work\install.log`"")
if ($p.ExitCode -ne 0) { throw "msiexec /i exited $($p.ExitCode) (see install.log)" }
if (-not (Test-Path "$Installed\calmline.exe")) { throw "calmline.exe not installed" }
$lnk = Join-Path $env:ProgramData "Microsoft\Windows\Start Menu\Programs\CalmLine.lnk"
if (-not (Test-Path $lnk)) { throw "no Start Menu entry" }
$run = Get-ItemProperty "HKLM:\Software\Microsoft\Windows\CurrentVersion\Run" -Name CalmLine -ErrorAction SilentlyContinue
if (-not $run) { throw "START_AT_LOGIN=1 did not add the Run entry" }
$policyText = Get-Content -Raw $Policy
if (-not ($policyText -match "recording_enabled = false") -or -not ($policyText -match '"general.recording_enabled"')) {
  throw "policy.toml does not lock recording off: $policyText"
}
Invoke-Checked "installed --version" { & "$Installed\calmline.exe" --version }
$out = & "$Installed\calmline.exe" analyze $DemoCall
if ($LASTEXITCODE -ne 0 -or -not ($out -match "interruption")) { throw "installed analyze failed: $out" }
$diag = & "$Installed\calmline.exe" --diagnostics
if ($LASTEXITCODE -ne 0) { throw "--diagnostics failed: $diag" }
Write-Host ($diag -join "`n")

$p = Start-Process msiexec.exe -Wait -PassThru -ArgumentList @("/x", "`"$Msi`"", "/qn", "/l*v", "`"$Work\uninstall.log`"")
if ($p.ExitCode -ne 0) { throw "msiexec /x exited $($p.ExitCode) (see uninstall.log)" }
foreach ($left in @($Installed, $lnk, $Policy)) {
  if (Test-Path $left) { throw "left behind after uninstall: $left" }
}
if (Get-ItemProperty "HKLM:\Software\Microsoft\Windows\CurrentVersion\Run" -Name CalmLine -ErrorAction SilentlyContinue) {
  throw "the Run entry survived the uninstall"
}
Write-Host "windows install test: all checks passed"
