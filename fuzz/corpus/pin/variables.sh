# from the article
export CODE_GIT_URL=https://github.com/reply-fr/sustainable-personal-accounts.git
CODE_GIT_BRANCH="v23.9.22"
VERBOSITY='INFO'
X=$(whoami)
if true; then echo; fi
