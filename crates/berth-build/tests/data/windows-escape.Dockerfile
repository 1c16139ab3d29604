# escape=`

FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]
ENV APP_HOME=C:\app
WORKDIR C:\app
COPY bin\ C:\app\bin\
RUN New-Item -ItemType Directory -Path C:\data ; `
    Write-Host "created" ; `
    # a comment inside the continuation is skipped
    Write-Host "done"
ENTRYPOINT ["C:\\app\\bin\\app.exe"]
