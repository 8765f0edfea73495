; Inno Setup script for the teleop desktop app on Windows (64-bit).
; UNTESTED: Windows installers cannot be built on this project's Linux machines. See packaging/README.md.
;
; Build (in a Developer PowerShell, from the repository root):
;   py -3.11 -m venv .venv
;   .venv\Scripts\pip install -e ".[desktop]" "pyinstaller>=6"
;   .venv\Scripts\pyinstaller --noconfirm --distpath dist --workpath build\pyinstaller packaging\teleop.spec
;   iscc /DAppVersion=0.1.0 packaging\windows\teleop.iss
; Output: dist\teleop-0.1.0-windows-x64-setup.exe

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "teleop"
#define RepoRoot AddBackslash(SourcePath) + "..\.."

[Setup]
; A fixed AppId keeps upgrades and uninstall working across versions: never change it.
AppId={{6F1B7C2E-3E84-4C7B-9E0A-5A1D2C7F4B21}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=teleop developers
AppPublisherURL=https://github.com/teleop/teleop
DefaultDirName={autopf}\teleop
DefaultGroupName=teleop
DisableProgramGroupPage=yes
OutputDir={#RepoRoot}\dist
OutputBaseFilename=teleop-{#AppVersion}-windows-x64-setup
SetupIconFile={#RepoRoot}\packaging\windows\teleop.ico
UninstallDisplayIcon={app}\teleop.exe
Compression=lzma2/max
SolidCompression=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; per-user install by default (no admin prompt); the user may choose all users
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
WizardStyle=modern
MinVersion=10.0

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; the whole PyInstaller one-folder bundle
Source: "{#RepoRoot}\dist\teleop\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\teleop"; Filename: "{app}\teleop.exe"; Comment: "Drive a robot from a gamepad"
Name: "{group}\teleop demo (simulated robot)"; Filename: "{app}\teleop.exe"; Parameters: "--demo"
Name: "{group}\{cm:UninstallProgram,teleop}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\teleop"; Filename: "{app}\teleop.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\teleop.exe"; Parameters: "--demo"; Description: "Try teleop now with the simulated robot"; Flags: nowait postinstall skipifsilent unchecked

[UninstallDelete]
; settings live in the registry (QSettings); leave them, as users expect on reinstall
Type: filesandordirs; Name: "{app}\_internal\__pycache__"
