; Ferry's NSIS additions (electron-builder.yml nsis.include).
; Offers to start Ferry at login; writes the same HKCU Run entry Electron's app.setLoginItemSettings uses,
; so the tray menu's "Start at login" and this choice agree. Silent installs (/S) skip it.
!macro customInstall
  MessageBox MB_YESNO|MB_ICONQUESTION "Start Ferry automatically when you log in?" /SD IDNO IDNO ferrySkipLogin
    WriteRegStr HKCU "Software\Microsoft\Windows\CurrentVersion\Run" "${APP_ID}" '"$INSTDIR\${PRODUCT_FILENAME}.exe" --hidden'
  ferrySkipLogin:
!macroend

!macro customUnInstall
  DeleteRegValue HKCU "Software\Microsoft\Windows\CurrentVersion\Run" "${APP_ID}"
!macroend
