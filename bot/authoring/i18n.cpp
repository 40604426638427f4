// placeholder: being written (aula i18n)
